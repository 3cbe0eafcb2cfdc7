"""The files of an MSRVTT-style dataset folder (see :mod:`memesearch.data.formats.msrvtt`)."""

from __future__ import annotations

from pathlib import Path

TRAIN_IDS = "train_ids.csv"
TRAIN_DATA = "train_data.json"
TRAIN_EMOTION = "train_emotion.json"
TEST_DATA = "test_data.json"
TEST_EMOTION = "test_emotion.json"
ALL_FILES = (TRAIN_IDS, TRAIN_DATA, TRAIN_EMOTION, TEST_DATA, TEST_EMOTION)
IMAGES_DIR = "images"
ID_KEYS = ("video_id", "image_id")
IEF_FRAME = "img_00001.jpg"


def is_msrvtt_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding MSRVTT-style data files."""
    return path.is_dir() and any((path / name).is_file() for name in (TRAIN_IDS, TRAIN_DATA, TEST_DATA))
