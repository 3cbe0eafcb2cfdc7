"""Shared pieces of the integration tests: a real uvicorn server on loopback, headless Chromium."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

#: flags for Debian's Chromium in tests: root in CI containers needs --no-sandbox; nothing may leave the
#: machine (no update checks, no safe-browsing lists)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]


class LiveServer:
    """``with LiveServer(app) as url:`` — the ASGI ``app`` served by uvicorn on 127.0.0.1, any free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server() -> type[LiveServer]:
    """The :class:`LiveServer` class (a fixture, so test modules need not import this file)."""
    return LiveServer


@pytest.fixture(scope="session")
def chromium() -> tuple[str, list[str]]:
    """``(executable, launch args)`` of Debian's Chromium; the test is skipped when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.skip(
            "no chromium executable found (make test installs Debian's chromium: apt-get install chromium)"
        )
    return found, list(CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def tiny_captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained (random, seeded) en/zh captioner on ``tiny-clip:0``, saved to a folder: its captions are
    noise, but fixed, and it loads by path like any captioner (``--model DIR``, ``--captioner DIR``)."""
    import torch

    from memesearch.caption import new_captioner
    from memesearch.caption.config import CaptionerConfig, DecoderConfig, MapperConfig
    from memesearch.caption.decoder import train_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tok = train_tokenizer(["a red square", "a blue circle", "红色方块", "蓝色圆圈"] * 5, vocab_size=300)
        cfg = CaptionerConfig(
            encoder="tiny-clip:0",
            feature_dim=32,
            mapper=MapperConfig(prefix_length=2),
            decoder=DecoderConfig(n_embd=32, n_layer=1, n_head=2, vocab_size=300, dropout=0.0),
            languages=("en", "zh"),
            max_caption_tokens=8,
        )
        return new_captioner(cfg, tok).save(tmp_path_factory.mktemp("captioner") / "tiny")


@pytest.fixture(scope="session")
def emoji_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The emoji benchmark built with the command recorded in the committed starter metrics.json (the
    shipped starter and starter-caption weights were measured on it); skipped without npm and its cache."""
    import json
    import shutil

    from memesearch.cli.main import main as cli_main
    from memesearch.data.emoji.sources import default_npm_cache, installed_version
    from memesearch.models.starter.encoder import METRICS_FILE, weights_dir

    packages = [
        "emoji-datasource-google",
        "emoji-datasource-twitter",
        "emoji-datasource-facebook",
        "emojibase-data",
    ]
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in packages):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}")
    recorded = json.loads((weights_dir() / METRICS_FILE).read_text(encoding="utf-8"))
    command = recorded["dataset"]["build"].split()
    assert command[:4] == ["memesearch", "datasets", "build", "emoji"]
    out = tmp_path_factory.mktemp("emoji-bench") / "emoji"
    args = command[1:]
    args[args.index("--out") + 1] = str(out)
    assert cli_main(args) == 0
    return out
