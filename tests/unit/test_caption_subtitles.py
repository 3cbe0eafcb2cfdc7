"""Timed captions: frame spans, merging, SubRip/JSON text, and the frame times decode_media reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.caption.subtitles import (
    Cue,
    build_cues,
    cues_from_json,
    format_timestamp,
    frame_spans,
    to_srt,
    write_subtitles,
)
from memesearch.enrich.media import decode_media


def test_timestamps_round_to_milliseconds() -> None:
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3_723_004) == "01:02:03,004"
    assert frame_spans(3, [0.0, 0.1, 0.2], 0.3) == [(0, 100), (100, 200), (200, 300)]  # 0.3 * 1000 != 300
    with pytest.raises(ValueError):
        format_timestamp(-1)


def test_spans_tile_the_clip() -> None:
    # frame times from the decoder: the first share starts at 0 even when its pts is later
    assert frame_spans(4, [0.04, 1.0, 2.0, 3.0], 4.0) == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)]
    # no times: evenly spaced over the duration
    assert frame_spans(4, None, 2.0) == [(0, 500), (500, 1000), (1000, 1500), (1500, 2000)]
    # unknown duration: the last frame gets the mean spacing
    assert frame_spans(3, [0.0, 0.5, 1.0], None) == [(0, 500), (500, 1000), (1000, 1500)]
    # a pts that goes back in time never makes a span negative
    spans = frame_spans(3, [0.0, 2.0, 1.0], 3.0)
    assert all(a <= b for a, b in spans) and spans[-1][1] == 3000
    assert frame_spans(0, None, 1.0) == []


def test_consecutive_identical_captions_merge() -> None:
    cues = build_cues([0, 1, 2, 3, 4], ["a cat", "a cat", "a dog", "a cat", "a cat"], duration=5.0, lang="en")
    assert [(c.start_ms, c.end_ms, c.text) for c in cues] == [
        (0, 2000, "a cat"),
        (2000, 3000, "a dog"),
        (3000, 5000, "a cat"),
    ]


def test_srt_and_json_files(tmp_path: Path) -> None:
    cues = [Cue(0, 1500, "笑哭了", "zh"), Cue(1500, 3000, "red heart", "zh")]
    text = to_srt(cues)
    assert text == "1\n00:00:00,000 --> 00:00:01,500\n笑哭了\n\n2\n00:00:01,500 --> 00:00:03,000\nred heart\n"
    srt, data = write_subtitles(cues, tmp_path / "subs", "clip")
    assert srt.read_text(encoding="utf-8") == text
    entries = json.loads(data.read_text(encoding="utf-8"))
    assert entries[0] == {"start": "00:00:00,000", "end": "00:00:01,500", "lang": "zh", "text": "笑哭了"}
    assert cues_from_json(entries) == cues


def test_decode_media_reports_frame_times_of_animations(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(6)]
    path = tmp_path / "anim.gif"
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=[100, 200, 100, 100, 300, 200], loop=0
    )
    decoded = decode_media(path, max_frames=3)  # frames 0, 2, 4
    assert decoded.media == "gif" and decoded.duration_s == pytest.approx(1.0)
    assert decoded.frame_times == pytest.approx([0.0, 0.3, 0.5])
    assert decode_media(path, max_frames=1).frame_times == pytest.approx([0.0])
    still = tmp_path / "still.png"
    frames[0].save(still)
    assert decode_media(still).frame_times is None


def test_decode_media_reports_frame_times_of_videos(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(30):  # 3 s
            arr = np.full((32, 32, 3), i * 8, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    decoded = decode_media(path, max_frames=3)
    assert decoded.frame_times is not None and len(decoded.frame_times) == 3
    assert decoded.frame_times == pytest.approx([0.0, 1.0, 2.0], abs=0.11)
