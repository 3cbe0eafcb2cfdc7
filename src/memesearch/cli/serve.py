"""``memesearch serve``: the HTTP API and web page over an index.

Binding: loopback (127.0.0.1) by default. A non-loopback ``--host`` (e.g. ``0.0.0.0``) is refused unless
a token exists (``--token``, or a scoped token of the index made by ``memesearch tokens create``) —
exposing an index to the network is a deliberate act, and tokens are what protect upload and delete; even
then a warning says that plain HTTP sends tokens in clear (put a TLS proxy in front). Without a token
that may write, the server is read-only: upload and delete answer 403. ``--auth-reads`` makes reads need a
token of scope read too (off by default). While another process writes the index (``memesearch index``),
the server starts anyway and serves it read-only (a warning says so; uploads answer 409).
"""

from __future__ import annotations

import logging
import threading
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from memesearch.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

    from memesearch.serve.settings import ServeSettings

logger = logging.getLogger(__name__)


def serve(
    index: Path = typer.Option(
        ...,
        "--index",
        envvar="MEMESEARCH_INDEX",
        help="Index directory to serve (made by `memesearch index`).",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; a non-loopback address needs --token."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="MEMESEARCH_TOKEN",
        help="Bearer token that enables upload and delete (at least 8 characters). Without it the server is "
        "read-only.",
    ),
    auth_reads: bool = typer.Option(
        False,
        "--auth-reads/--open-reads",
        envvar="MEMESEARCH_AUTH_READS",
        help="Reads (search, items, media) need a token of scope read (`memesearch tokens create`). Off by "
        "default: a local index is readable without a token.",
    ),
    rate_limit: float | None = typer.Option(
        None,
        "--rate-limit",
        envvar="MEMESEARCH_RATE_LIMIT",
        min=0.01,
        help="API requests per second allowed per client address (bursts of twice that); over it: 429. "
        "Default: no limit.",
    ),
    max_upload_mb: float = typer.Option(
        10.0, "--max-upload-mb", min=0.01, help="Largest accepted upload in MiB (larger ones get 413)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Encoder the index must have been built with (refused when it differs)."
    ),
    open_browser: bool = typer.Option(
        False,
        "--open-browser/--no-open-browser",
        help="Open the web page in a browser once the server is up.",
    ),
) -> None:
    """Serve the JSON API (/api, docs at /docs) and the search web page (/) over an index."""
    import uvicorn

    from memesearch.index.access import TokenStore
    from memesearch.serve.app import create_app
    from memesearch.serve.http import json_error_http_protocol
    from memesearch.serve.index_open import busy_warning, open_for_serving
    from memesearch.serve.settings import ServeSettings

    settings = ServeSettings.from_env(
        index_dir=index,
        host=host,
        port=port,
        token=token,
        max_upload_mb=max_upload_mb,
        model=model,
        auth_reads=auth_reads or None,
        rate_limit=rate_limit,
    )
    if not settings.is_loopback:
        if settings.token is None and not TokenStore(settings.index_dir).records():
            raise ConfigError(
                f"refusing to listen on {host!r} (reachable from other machines) without a token: create "
                "one with 'memesearch tokens create --index DIR', or pass --token (or set MEMESEARCH_TOKEN), "
                "or keep the default --host 127.0.0.1"
            )
        typer.echo(
            f"warning: listening on {host}, reachable from other machines over plain HTTP; the token travels "
            "in clear — put a TLS reverse proxy in front for anything but a trusted network",
            err=True,
        )
    # Open the index here (not in the app's startup) so that a missing index or an encoder mismatch is
    # one readable error line from the CLI, not a server traceback.
    idx, busy = open_for_serving(settings.index_dir, model=settings.model)
    if busy:
        typer.echo(busy_warning(busy), err=True)
    try:
        app = create_app(settings, index=idx, read_only_reason=busy)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
            http=json_error_http_protocol(),  # malformed HTTP gets a JSON 400 too
        )
        server = uvicorn.Server(config)
        threading.Thread(
            target=_announce, args=(server, settings, len(idx), open_browser), daemon=True
        ).start()
        _close_on_sigterm()
        server.run()
    finally:
        idx.close()


def _close_on_sigterm() -> None:
    """After uvicorn's graceful shutdown on SIGTERM it raises the signal again; by default that ends the
    process at once, before the index saves and lets go of its writer lock. Make it an ordinary exit
    (code 0) instead, so that ``finally: idx.close()`` runs."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise typer.Exit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def _announce(server: uvicorn.Server, settings: ServeSettings, items: int, open_browser: bool) -> None:
    """Print the URL once uvicorn listens (the real port when --port 0) and maybe open a browser."""
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or server.should_exit:
            return
        time.sleep(0.05)
    host, port = settings.host, settings.port
    for srv in server.servers:
        for sock in srv.sockets:
            port = sock.getsockname()[1]
            break
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/"
    from memesearch.index.access import TokenStore
    from memesearch.serve.auth import writes_enabled

    enabled = writes_enabled(settings, TokenStore(settings.index_dir))
    writes = "enabled" if enabled else "disabled (no write token)"
    if settings.auth_reads:
        writes += "; reads need a token"
    typer.echo(f"memesearch: serving {items} items at {url}  (API docs: {url}docs; uploads {writes})")
    if open_browser:
        webbrowser.open(url)
