"""The Ray engine indexes what the local engine indexes, and a bad ``--engine`` loses nothing.

Ray listens on every interface by default, so the Ray run happens in a fresh network namespace that has only
``lo`` (``unshare -n``: root, as here and in CI, or unprivileged user namespaces) and asserts that nothing
in it listens outside 127.0.0.0/8. The comparison itself runs here, on the two index folders.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main as cli_main
from memesearch.index import Index
from memesearch.ingest import Ingestor
from memesearch.ingest.engine_spec import parse_engine
from memesearch.ingest.engines import LocalEngine
from memesearch.models import create_encoder
from memesearch.utils.synthetic import save_animation, shapes_image, text_image

JOB = Path(__file__).with_name("ray_netns_job.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def netns_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here (None: it can)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no `unshare` executable (util-linux)"
    try:
        got = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare -n true` failed: {exc}"
    if got.returncode != 0:
        return f"`unshare -n` is not permitted here ({got.stderr.strip() or got.returncode})"
    return None


def make_inputs(work: Path) -> list[Path]:
    """A folder of images with an exact and a near duplicate, an animation, text to read and a broken
    file, and a list with captions and emotions: every path of the pipeline."""
    root = work / "inputs"
    root.mkdir(parents=True)
    for i in range(7):
        shapes_image(300 + i, (96, 96)).save(root / f"img_{i}.png")
    shutil.copy(root / "img_0.png", root / "copy_of_0.png")
    shapes_image(301, (96, 96)).resize((80, 80)).save(root / "smaller_1.jpg", quality=85)
    save_animation(root / "anim.gif", [shapes_image(400 + k, (64, 64)) for k in range(3)])
    text_image("HAPPY FRIDAY", (320, 96), font_size=40).save(root / "words.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    listed = work / "listed"
    listed.mkdir()
    for i in range(3):
        shapes_image(500 + i, (96, 96)).save(listed / f"l_{i}.png")
    (listed / "list.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"path": "l_0.png", "captions": ["so happy today"]}),
                json.dumps({"path": "l_1.png", "captions": ["气死我了"], "emotions": ["生气"]}),
                json.dumps({"path": "l_2.png", "captions": ["a blue square"], "source": "list"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return [root, listed / "list.jsonl"]


def item_rows(idx: Index) -> dict[str, dict]:
    rows = {}
    for item in idx.items(list(range(1, 10_000))).values():
        d = item.to_dict()
        d.pop("added_at")
        rows[item.id] = d
    return rows


def vectors_by_id(idx: Index, field: str) -> dict[str, np.ndarray]:
    rowids, vecs = idx.all_vectors(field)
    items = idx.items([int(r) for r in rowids])
    return {items[int(r)].id: v for r, v in zip(rowids, vecs, strict=True)}


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.mark.slow
@pytest.mark.netns
def test_ray_ingest_in_a_loopback_namespace_equals_local_ingest(tmp_path: Path) -> None:
    problem = netns_problem()
    if problem is not None:
        pytest.skip(f"needs a loopback-only network namespace for Ray: {problem}")
    work = tmp_path
    inputs = make_inputs(work)
    (work / "inputs.json").write_text(json.dumps([str(p) for p in inputs]))
    encoder = create_encoder("tiny-clip:0")
    settings = {"ocr": True, "batch_size": 4}
    with Index.create(work / "local.idx", encoder=encoder, **settings) as idx:
        local = Ingestor(idx).add_paths(inputs, engine=LocalEngine(workers=0)).to_dict()
    Index.create(work / "ray.idx", encoder=encoder, **settings).close()
    # the cache check: four items enriched here, two removed (their cached results stay), then re-added by
    # Ray together with one new file
    cache_inputs = work / "cache_inputs"
    cache_inputs.mkdir()
    for i in range(5):
        shapes_image(700 + i, (64, 64)).save(cache_inputs / f"c_{i}.png")
    new_file = cache_inputs / "c_4.png"
    aside = work / "c_4.png"
    new_file.rename(aside)
    sys.path.insert(0, str(JOB.parent))
    try:
        from ray_netns_job import CountingEnricher
    finally:
        sys.path.remove(str(JOB.parent))
    log = work / "counted.log"
    with Index.create(work / "cache.idx", encoder=encoder, ocr=False) as idx:
        first = Ingestor(idx, enrichers=[CountingEnricher(str(log))]).add_paths([cache_inputs], workers=0)
        assert len(first.indexed) == 4
        assert idx.remove([str(cache_inputs / "c_0.png"), str(cache_inputs / "c_1.png")]) == 2
    aside.rename(new_file)
    assert len(log.read_text().split()) == 4
    Index.create(work / "failing.idx", encoder=encoder, ocr=False).close()

    # the Ray run, in a namespace with only lo; HOME (Ray's auth token) and Ray's temp folder are ours
    ray_tmp = tempfile.mkdtemp(prefix="msray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {
        **os.environ,
        "HOME": str(work),
        "RAY_TMPDIR": ray_tmp,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    out = work / "ray.json"
    try:
        got = subprocess.run(
            ["unshare", "-n", sys.executable, str(JOB), str(work), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert got.returncode == 0, got.stderr[-4000:]
    result = json.loads(out.read_text())
    ray = result["ray"]

    # it really ran in a namespace with only lo, Ray listened, and only on loopback
    assert result["interfaces"] == ["lo"]
    assert result["samples"] > 10 and result["sockets_while_running"], result
    assert len(result["sockets"]) >= 3, result["sockets"]  # GCS, raylet, object manager, workers
    outside = [s for s in result["sockets"] if not is_loopback(s[1])]
    assert not outside, f"Ray listened outside 127.0.0.0/8: {outside}"
    assert ray["engine"]["name"] == "ray" and ray["engine"]["startup_s"] > 0
    # decoding ran as tasks in other processes than the one encoder actor
    assert len(ray["engine"]["actors"]) == 1 and ray["engine"]["decoders"]
    assert not set(ray["engine"]["actors"]) & set(ray["engine"]["decoders"])

    # the same run: items in the same order, duplicates, near-duplicates, failures
    assert local["engine"]["name"] == "local"
    for key in ("ids", "skipped", "duplicates", "near_duplicates", "failed", "messages"):
        assert ray[key] == local[key], key
    assert len(local["ids"]) == 13 and local["duplicates"] == 1 and local["near_duplicates"] >= 1
    assert [f["reason"] for f in local["failed"]] == ["truncated"]
    for stage in ("prepare", "enrich", "embed", "write"):
        assert ray["stages"][stage]["items"] == local["stages"][stage]["items"], stage

    # the same items and vectors
    with (
        Index.open(work / "local.idx", encoder=encoder) as a,
        Index.open(work / "ray.idx", encoder=encoder) as b,
    ):
        items_a, items_b = item_rows(a), item_rows(b)
        assert set(items_a) == set(items_b) == set(local["ids"])
        assert any(r["ocr"] for r in items_a.values())  # OCR read the words
        assert sum(bool(r["emotions"]) for r in items_a.values()) >= 2  # given ones and tagged ones
        assert sum(bool(r["captions"]) for r in items_a.values()) == 3
        for item_id, row in items_a.items():
            other = items_b[item_id]
            emotions_a, emotions_b = row.pop("emotions"), other.pop("emotions")
            assert row == other, item_id
            assert [e["emotion"] for e in emotions_a] == [e["emotion"] for e in emotions_b], item_id
            assert np.allclose([e["score"] for e in emotions_a], [e["score"] for e in emotions_b], atol=1e-5)
        for field in ("image", "text"):
            va, vb = vectors_by_id(a, field), vectors_by_id(b, field)
            assert set(va) == set(vb) and va, field
            for item_id in va:
                np.testing.assert_allclose(va[item_id], vb[item_id], atol=1e-5, err_msg=f"{field} {item_id}")

    # cached enrichment results were read through the cache reader: only the new file was enriched
    cache = result["cache"]
    assert cache["indexed"] == 3
    counted = log.read_text().split()
    assert len(counted) == 5 and len(set(counted)) == 5, counted
    with Index.open(work / "cache.idx", encoder=encoder) as idx:
        assert all(r["meta"]["counted"] == item_id[:8] for item_id, r in item_rows(idx).items())

    # a domain error in an actor comes back as itself (one line on the command line), nothing written
    assert result["error"] == {
        "type": "ConfigError",
        "message": "enricher 'counting' is misconfigured: threshold 2.0 is not in [0, 1]",
        "items": 0,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_engine_or_unreachable_cluster_is_one_line_and_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "m"
    files.mkdir()
    for i in range(3):
        shapes_image(900 + i, (64, 64)).save(files / f"{i}.png")
    index = tmp_path / "idx"
    base = ["index", str(files), "--index", str(index), "--model", "tiny-clip:0", "--no-ocr", "-w", "0"]
    assert cli_main(base) == 0
    capsys.readouterr()
    shapes_image(999, (64, 64)).save(files / "new.png")  # something for the next runs to do

    port = free_port()  # nothing listens there
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # what ray:auto finds first
    for spec, expected in (
        ("spark", "unknown engine 'spark'; valid: 'local', 'ray'"),
        ("ray:", "names no Ray address"),
        ("ray:nowhere", "'nowhere' is not a Ray address"),
        (f"ray:127.0.0.1:{port}", f"cannot reach a Ray cluster at 127.0.0.1:{port} (--engine ray:127.0.0.1:"),
        ("ray:auto", f"cannot reach a Ray cluster at 127.0.0.1:{port} (--engine ray:auto)"),
        ("ray://127.0.0.1:10001", "Ray Client addresses (ray://) are not supported"),
    ):
        args = [a for a in base if a not in ("-w", "0")]
        assert cli_main([*args, "--engine", spec]) == 2, spec
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (spec, err)
    # nothing already indexed was lost, nothing half-written
    with Index.open(index) as idx:
        assert len(idx) == 3 == len(idx.vector_store("image"))
    assert cli_main(base) == 0  # and the local engine goes on from there
    with Index.open(index) as idx:
        assert len(idx) == 4


def test_parse_engine() -> None:
    assert isinstance(parse_engine("local"), LocalEngine)
    assert parse_engine("local", workers=3).describe() == {"name": "local", "workers": 3}
    ray_engine = parse_engine("Ray:auto", actors=2)
    assert ray_engine.spec == "Ray:auto" and ray_engine.describe()["actor_pool"] == 2
    with pytest.raises(Exception, match="--actors applies to the Ray engine only"):
        parse_engine("local", actors=2)
