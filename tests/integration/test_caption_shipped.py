"""The shipped ``starter-caption`` captioner: loads offline from the package, describes itself, captions
images in English and Chinese and writes subtitles of a video through ``memesearch caption``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.caption import DecodeConfig, load_captioner
from memesearch.caption.captioner import builtin_dir
from memesearch.cli.main import main


def face(path: Path) -> Path:
    """A yellow smiling face on white, emoji-like, 64 px."""
    img = Image.new("RGB", (64, 64), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((4, 4, 60, 60), fill=(250, 200, 40))
    for x in (22, 42):
        d.ellipse((x - 4, 20, x + 4, 30), fill="black")
    d.arc((16, 26, 48, 50), 0, 180, fill="black", width=3)
    img.save(path)
    return path


def test_shipped_captioner_describes_itself_and_captions_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = builtin_dir("starter-caption")
    described = json.loads((folder / "captioner.json").read_text(encoding="utf-8"))
    assert described["captioner"]["encoder"] == "starter-v1" and described["captioner"]["languages"] == [
        "en",
        "zh",
    ]
    assert (folder / "model.safetensors").stat().st_size < 8_000_000  # a few MB, shipped in the package
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert {"val", "test-seen", "test"} <= set(metrics["splits"])
    captioner = load_captioner("starter-caption", device="cpu")
    image = face(tmp_path / "smile.png")
    en = captioner.caption([image], DecodeConfig(num_beams=3, num_return=2))[0]
    zh = captioner.caption([image], DecodeConfig(lang="zh"))[0]
    assert en[0].text and en[0].lang == "en" and en[0].score >= en[1].score
    assert zh[0].text and any("\u4e00" <= ch <= "\u9fff" for ch in zh[0].text)


def test_caption_command_with_the_default_captioner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    av = pytest.importorskip("av")
    image = face(tmp_path / "smile.png")
    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = np.asarray(Image.open(image).convert("RGB"))
        for _ in range(10):  # 2 s of the same face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert main(["caption", str(image), "--json", "--lang", "zh"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["path"] == str(image) and record["caption"] and record["lang"] == "zh"
    assert main(["caption", str(video), "--srt", str(tmp_path / "subs"), "--frames", "4"]) == 0
    capsys.readouterr()
    cues = json.loads((tmp_path / "subs" / "clip.json").read_text(encoding="utf-8"))
    assert cues[0]["start"] == "00:00:00,000" and cues[-1]["end"] <= "00:00:02,100"
    assert (tmp_path / "subs" / "clip.srt").read_text(encoding="utf-8").startswith("1\n00:00:00,000 --> ")


@pytest.mark.slow
def test_shipped_captioner_reaches_its_recorded_metrics_on_emoji_test_seen(emoji_benchmark: Path) -> None:
    """The numbers in metrics.json (and the README) come back from the shipped files on a fresh build."""
    from memesearch.data.formats import read_dataset
    from memesearch.eval.captions import evaluate_captioner

    recorded = json.loads((builtin_dir("starter-caption") / "metrics.json").read_text(encoding="utf-8"))
    built = read_dataset(emoji_benchmark).meta["command"].split()
    assert [a for a in recorded["dataset"]["build"].split() if "/" not in a] == [
        a for a in built if "/" not in a
    ]
    report = evaluate_captioner(
        load_captioner("starter-caption", device="cpu"), read_dataset(emoji_benchmark), "test-seen"
    )
    for lang in ("en", "zh"):
        expected = recorded["splits"]["test-seen"]["languages"][lang]
        got = report["languages"][lang]
        assert got["exact"] == pytest.approx(expected["exact"], abs=0.01)
        assert got["CIDEr-D"] == pytest.approx(expected["CIDEr-D"], abs=0.05)
        assert got["exact"] > 0.1  # names seen concepts in the unseen style (1 in 1266 by chance)
