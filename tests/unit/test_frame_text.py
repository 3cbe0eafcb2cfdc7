"""OCR over the sampled frames of an animation: lines de-duplicated across frames, each with its time."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.data.records import OCRLine
from memesearch.enrich.frame_text import dedupe_lines, normalise_line, read_frames
from memesearch.enrich.media import decode_media
from memesearch.utils.synthetic import save_animation, word_card


def test_normalise_line_ignores_case_space_and_punctuation() -> None:
    assert normalise_line("SO  Sleepy!") == normalise_line("so sleepy") == "sosleepy"
    assert normalise_line("我 好困。") == "我好困"
    assert normalise_line("ＡＢＣ") == "abc"  # full-width letters (NFKC)
    assert normalise_line("!!!") == "!!!"  # nothing left: the text itself


def test_dedupe_keeps_the_first_frame_of_each_line_with_its_time() -> None:
    a = OCRLine("HELLO", 0.95, (1, 2, 3, 4))
    a2 = OCRLine("hello!", 0.99, (5, 6, 7, 8))
    b = OCRLine("bye", 0.93)
    out = dedupe_lines([[a], [a2, b], [b]], [0.0, 0.25, 0.5])
    assert [(ln.text, ln.frame, ln.time_ms, ln.box) for ln in out] == [
        ("HELLO", 0, 0, (1, 2, 3, 4)),
        ("bye", 1, 250, (0.0, 0.0, 0.0, 0.0)),
    ]
    # unknown frame times: the frame index still says where
    assert [(ln.frame, ln.time_ms) for ln in dedupe_lines([[], [b]], None)] == [(1, None)]


def test_line_json_round_trips_and_still_image_lines_are_unchanged() -> None:
    still = OCRLine("hi", 0.9, (0, 0, 1, 1))
    assert still.to_dict() == {"text": "hi", "score": 0.9, "box": [0, 0, 1, 1]}
    timed = OCRLine("hi", 0.9, (0, 0, 1, 1), frame=2, time_ms=800)
    assert timed.to_dict()["time_ms"] == 800 and OCRLine.from_dict(timed.to_dict()) == timed
    assert OCRLine.from_dict(still.to_dict()) == still


def test_text_only_in_frame_3_of_a_gif_is_read_with_its_time(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr")
    from memesearch.enrich.ocr import OCRReader

    blank = [word_card("", (250, 250, 250)), word_card("", (200, 230, 250))]
    frames = [*blank, word_card("PIZZA", (250, 250, 250)), word_card("PIZZA", (250, 240, 200))]
    gif = save_animation(tmp_path / "late.gif", frames, duration_ms=300)
    decoded = decode_media(gif, max_frames=4)
    reader = OCRReader()
    assert not any("PIZZA" in ln.text.upper() for ln in reader.read(decoded.frames[0]))  # the cover alone
    lines = read_frames(reader, decoded.frames, decoded.frame_times)
    found = [ln for ln in lines if "PIZZA" in ln.text.upper()]
    assert len(found) == 1  # frames 3 and 4 both show it: kept once
    assert found[0].frame == 2 and found[0].time_ms == 600
    # a still image reads as before: no frame, no time
    still = read_frames(reader, [frames[2]], None)
    assert still and still[0].frame is None and still[0].time_ms is None
