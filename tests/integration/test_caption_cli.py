"""``memesearch caption`` end to end on a small random captioner saved to a folder: images (text and JSON),
videos and GIFs -> SubRip + JSON, bad files reported one by one, and a captioned copy of a dataset."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from memesearch.caption.subtitles import cues_from_json, format_timestamp
from memesearch.cli.main import main
from memesearch.data.formats import read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split


@pytest.fixture(scope="module")
def captioner_dir(tiny_captioner_dir: Path) -> Path:
    return tiny_captioner_dir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["caption", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def image(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (40, 40), colour).save(path)
    return path


def write_video(path: Path, seconds: float = 3.0, fps: int = 10) -> Path:
    """Red for the first half, blue for the second."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        total = int(seconds * fps)
        for i in range(total):
            arr = np.zeros((32, 32, 3), dtype=np.uint8)
            arr[..., 0 if i < total // 2 else 2] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def check_cues(entries: list[dict[str, Any]], duration_ms: int, srt_text: str) -> None:
    cues = cues_from_json(entries)
    assert cues and cues[0].start_ms == 0
    for a, b in itertools.pairwise(cues):
        assert a.end_ms == b.start_ms  # ordered, contiguous
        assert a.text != b.text  # consecutive repeats were merged
    assert all(c.start_ms < c.end_ms for c in cues)
    assert abs(cues[-1].end_ms - duration_ms) <= 150  # within the clip's duration
    blocks = srt_text.strip().split("\n\n")
    assert len(blocks) == len(cues)
    for i, (block, cue) in enumerate(zip(blocks, cues, strict=True), start=1):
        assert block.split("\n") == [
            str(i),
            f"{format_timestamp(cue.start_ms)} --> {format_timestamp(cue.end_ms)}",
            cue.text,
        ]


def test_images_text_and_json(
    captioner_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "stickers"
    folder.mkdir()
    a = image(folder / "a.png", (255, 0, 0))
    image(folder / "b.png", (0, 0, 255))
    code, out, _ = run(capsys, str(a), str(folder), "--model", str(captioner_dir))
    assert code == 0
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert [line[0] for line in lines] == [str(a), str(folder / "a.png"), str(folder / "b.png")]
    assert lines[0][1] == lines[1][1]  # same image, same caption
    code, out, _ = run(capsys, str(a), "--model", str(captioner_dir), "--json", "--beams", "3", "--num", "2")
    records = json.loads(out)
    assert records[0]["path"] == str(a) and set(records[0]) >= {"caption", "score", "lang"}
    alternatives = records[0]["alternatives"]
    assert len(alternatives) == 2 and alternatives[0]["score"] >= alternatives[1]["score"]
    assert records[0]["caption"] == alternatives[0]["caption"]
    code, out, _ = run(capsys, str(a), "--model", str(captioner_dir), "--json", "--lang", "zh")
    assert json.loads(out)[0]["lang"] == "zh"
    code, _, err = run(capsys, str(a), "--model", str(captioner_dir), "--lang", "fr")
    assert code == 2 and "fr" in err


def test_video_and_gif_subtitles(
    captioner_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "clip.mp4")
    frames = [Image.new("RGB", (24, 24), c) for c in [(255, 0, 0)] * 3 + [(0, 255, 0)] * 3]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=250, loop=0)
    still = image(tmp_path / "still.png", (9, 9, 9))
    out_dir = tmp_path / "subs"
    code, out, _ = run(
        capsys, str(video), str(gif), str(still), "--model", str(captioner_dir), "--srt", str(out_dir),
        "--frames", "6", "--json",
    )  # fmt: skip
    assert code == 0
    records = json.loads(out)
    assert records[2]["path"] == str(still) and "caption" in records[2]  # a still image: one caption
    for record, stem, duration_ms in ((records[0], "clip", 3000), (records[1], "anim", 1500)):
        assert (
            Path(record["srt"]) == out_dir / f"{stem}.srt"
            and Path(record["json"]) == out_dir / f"{stem}.json"
        )
        entries = json.loads((out_dir / f"{stem}.json").read_text(encoding="utf-8"))
        assert entries == record["cues"]
        assert {e["lang"] for e in entries} == {"en"}
        check_cues(entries, duration_ms, (out_dir / f"{stem}.srt").read_text(encoding="utf-8"))
        # two colours, each held for half the clip: at most two captions after merging repeats
        assert len(entries) <= 2


def test_bad_files_are_reported_one_by_one(
    captioner_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = image(tmp_path / "good.png", (255, 0, 0))
    video = write_video(tmp_path / "clip.mp4").read_bytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(video[:32] + bytes(range(256)) * 4)
    empty_gif = tmp_path / "empty.gif"  # a GIF header and trailer, no frame at all
    empty_gif.write_bytes(b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0, 0, 0) + b"\x3b")
    png = (tmp_path / "good.png").read_bytes()
    broken = tmp_path / "broken.png"
    broken.write_bytes(png[: len(png) // 2])
    args = [str(corrupt), str(good), str(empty_gif), str(broken), "--model", str(captioner_dir)]
    code, out, err = run(capsys, *args, "--srt", str(tmp_path / "subs"))
    assert code == 1
    assert out.startswith(f"{good}\t") and len(out.strip().splitlines()) == 1
    for path, reason in ((corrupt, "unreadable-video"), (empty_gif, "corrupt"), (broken, "truncated")):
        assert f"error: {path}: [{reason}]" in err
    assert "3 of 4 files could not be captioned" in err
    code, out, _ = run(capsys, *args, "--json")
    records = json.loads(out)
    assert code == 1 and [("error" in r) for r in records] == [True, False, True, True]


def test_captioned_copy_of_a_dataset(
    captioner_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image(tmp_path / "a.png", (255, 0, 0))
    image(tmp_path / "b.png", (0, 255, 0))
    items = [
        Item(
            id="a", path="a.png", captions=["red"], meta={"caption_langs": ["en"], "caption_kind": "oracle"}
        ),
        Item(id="b", path="b.png"),
        Item(id="gone", path="missing.png"),
    ]
    queries = [Query(id="q", text="red", qrels={"a": 1})]
    splits = {"test": Split("test", items=items, queries=queries), "train": Split("train", items=items[:1])}
    src = write_dataset(Dataset(name="toy", splits=splits, root=tmp_path), tmp_path / "ds")
    code, out, _ = run(
        capsys, "--dataset", str(src), "--split", "test", "--out", str(tmp_path / "copy"),
        "--model", str(captioner_dir), "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["captioned"] == 2 and len(summary["failed"]) == 1 and summary["languages"] == ["en", "zh"]
    copy = read_dataset(tmp_path / "copy")
    a, _, gone = copy["test"].items
    assert [g["lang"] for g in a.meta["generated_captions"]] == ["en", "zh"]
    assert a.captions == ["red", *(g["text"] for g in a.meta["generated_captions"])]
    assert a.meta["caption_langs"] == ["en", "en", "zh"] and a.meta["captioner"]["version"]
    assert gone.captions == [] and "generated_captions" not in gone.meta
    assert copy["train"].items[0].captions == ["red"]  # splits not asked for are copied as they are
    assert copy["test"].queries[0].qrels == {"a": 1}
    assert (copy.root / a.path).resolve() == (tmp_path / "a.png").resolve()  # media are not copied
    assert copy.meta["generated_captions"]["splits"] == ["test"]
    code, _, _ = run(
        capsys, "--dataset", str(src), "--out", str(tmp_path / "plain"), "--model", str(captioner_dir),
        "--replace-captions", "--lang", "zh",
    )  # fmt: skip
    plain = read_dataset(tmp_path / "plain")["test"].items[0]
    assert plain.captions == [plain.meta["generated_captions"][0]["text"]]
    assert plain.meta["caption_kind"] == "generated" and plain.texts(oracle_captions=False) == plain.captions
    # indexed, the copy's generated captions stay generated: results and calibration tell them apart
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher
    from memesearch.search.calibration import GENERATED_COLUMN

    with Index.create(tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False) as idx:
        summary = add_paths(idx, [tmp_path / "plain"], splits=["test"], workers=0)
        assert len(summary.indexed) == 2
        rowids = np.array(sorted(r[0] for r in idx.context_rows()))
        by_path = {Path(it.paths[0]).name: (r, it) for r, it in idx.items(rowids.tolist()).items()}
        rowid, indexed = by_path["a.png"]
        assert indexed.generated_caption() is not None and indexed.generated_caption()["only"] is True
        assert Searcher(idx).item_features(np.array([rowid]))[0, GENERATED_COLUMN] == 1.0
