"""``memesearch tokens create|list|revoke --index DIR``: the scoped access tokens of an index.

``create`` prints the new token once (only its SHA-256 is kept, in ``access_tokens.json`` in the index
folder, mode 0600); ``list`` shows name, id, scope, created, expiry and last use, never a token;
``revoke NAME|ID`` deletes one, and a running ``memesearch serve`` refuses it from the next request on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from memesearch.errors import ConfigError
from memesearch.index.access import SCOPES, TokenStore, parse_expiry

app = typer.Typer(help="Scoped access tokens (read, write, admin) of an index, for memesearch serve.")

_INDEX = typer.Option(..., "--index", envvar="MEMESEARCH_INDEX", help="The index directory.")


def _when(seconds: float | None, never: str = "never") -> str:
    if seconds is None:
        return never
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(seconds))


@app.command("create")
def create(
    index: Path = _INDEX,
    name: str = typer.Option(..., "--name", help="A name to list and revoke it by (letters, digits, . _ -)."),
    scope: str = typer.Option(
        "read", "--scope", help=f"One of {', '.join(SCOPES)}; each allows the ones before it."
    ),
    expires: str | None = typer.Option(
        None, "--expires", help="Expiry: a duration (30d, 12h, 90m, 2w) or an ISO date/time (UTC if no zone)."
    ),
) -> None:
    """Create a token and print it once (it is stored only as a hash: copy it now)."""
    if not (index / "index.json").is_file():
        raise ConfigError(
            f"no index at {index} (no index.json): make one with 'memesearch index FOLDER --index DIR'"
        )
    until = parse_expiry(expires) if expires else None
    record, secret = TokenStore(index).create(name, scope=scope, expires=until)
    typer.echo(secret)
    typer.echo(
        f"token {record.name!r} (id {record.id}, scope {record.scope}, expires {_when(record.expires)}) "
        "created; it is shown only this once. Send it as 'Authorization: Bearer TOKEN'.",
        err=True,
    )


@app.command("list")
def list_tokens(
    index: Path = _INDEX,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the tokens: name, id, scope, created, expiry, last use (never the tokens)."""
    records = TokenStore(index).records()
    if as_json:
        typer.echo(json.dumps([r.public() for r in records], indent=2))
        return
    if not records:
        typer.echo(
            "no tokens (create one with: memesearch tokens create --index DIR --name NAME --scope write)"
        )
        return
    now = time.time()
    typer.echo(f"{'NAME':<20} {'ID':<8} {'SCOPE':<6} {'CREATED':<21} {'EXPIRES':<21} LAST USED")
    for r in records:
        expiry = _when(r.expires) + (" (expired)" if r.expired(now) else "")
        typer.echo(
            f"{r.name:<20} {r.id:<8} {r.scope:<6} {_when(r.created):<21} {expiry:<21} "
            + _when(r.last_used, "-")
        )


@app.command("revoke")
def revoke(
    name_or_id: str = typer.Argument(..., metavar="NAME|ID", help="The token's name or id."),
    index: Path = _INDEX,
) -> None:
    """Revoke a token: a running server refuses it from the next request on."""
    record = TokenStore(index).revoke(name_or_id)
    typer.echo(f"revoked token {record.name!r} (id {record.id}, scope {record.scope})")
