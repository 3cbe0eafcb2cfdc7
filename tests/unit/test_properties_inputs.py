"""Property-based tests (hypothesis) for the readers tests/unit/test_properties.py does not cover: the
MSRVTT-style folder reader, the media-folder reader, the list files `memesearch index` reads (CSV, JSONL),
object regions, the decoder behind the media sniffer, and the search-side parsers (--box, --weights).
Whatever comes in, the answer is a result or a domain error (:class:`memesearch.errors.MemesearchError`),
never a traceback of another kind.

Besides byte soup, the strategies build *structured* JSON (objects with the format's own keys holding
values of the wrong type), so that examples get past the JSON parser into each record check."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from memesearch.data.formats import read_dataset
from memesearch.data.formats.media import MEDIA_EXTENSIONS
from memesearch.enrich.media import MEDIA_ERROR_REASONS, MediaError, decode_media
from memesearch.errors import MemesearchError
from memesearch.index.config import parse_weights
from memesearch.ingest.inputs import expand_inputs
from memesearch.objects.regions import Region, parse_box

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# keys the formats look for, so that generated objects exercise their checks
KEYS = st.sampled_from(
    ["video_id", "image_id", "caption", "sentences", "titles", "gt", "emotion", "person_1", "path",
     "captions", "emotions", "source", "meta", "objects", "box", "label", "score", "mask_rle", "size",
     "counts", "id"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["v1", "1", "a.png", "开心", "", "../x", "/etc/passwd"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=4)), inner, max_size=5)
    ),
    max_leaves=16,
)
JSON_TEXT = JSON.map(lambda v: json.dumps(v, ensure_ascii=False))
BLOBS = st.one_of(
    st.binary(max_size=300),
    JSON_TEXT.map(str.encode),
    st.lists(JSON_TEXT, max_size=5).map(lambda ls: "\n".join(ls).encode()),
)
CSV_TEXT = st.lists(
    st.lists(
        st.one_of(st.text(max_size=8), st.sampled_from(["path", "captions", '"', "a.png", "|", ""])),
        max_size=4,
    ).map(",".join),
    max_size=6,
).map(lambda rows: "\n".join(rows).encode("utf-8", "surrogatepass"))


def _only_domain_errors(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except MemesearchError as err:
        assert str(err).strip(), "a domain error must say what is wrong"


def _folder(files: dict[str, bytes]) -> Callable[[Callable[[Path], Any]], None]:
    def run(fn: Callable[[Path], Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ds"
            root.mkdir()
            for name, data in files.items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            _only_domain_errors(lambda: fn(root))

    return run


MSRVTT_FILES = st.fixed_dictionaries(
    {},
    optional={
        "train_ids.csv": st.one_of(CSV_TEXT, st.binary(max_size=100)),
        "train_data.json": BLOBS,
        "train_emotion.json": BLOBS,
        "test_data.json": BLOBS,
        "test_emotion.json": BLOBS,
        "images/v1.jpg": st.binary(max_size=64),
        "images/1.png": st.binary(max_size=64),
    },
)


@SETTINGS
@given(MSRVTT_FILES)
def test_the_msrvtt_reader_gives_a_dataset_or_a_domain_error(files: dict[str, bytes]) -> None:
    files.setdefault("test_data.json", b"{}")  # one file that makes it an MSRVTT folder
    run = _folder(files)
    run(lambda p: read_dataset(p, "msrvtt"))
    run(lambda p: read_dataset(p, "msrvtt", skip_bad=True))


MEDIA_NAMES = st.tuples(
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12
    ),
    st.sampled_from([*sorted(MEDIA_EXTENSIONS), ".txt", ".json", ""]),
).map(lambda t: t[0].lstrip(".") + t[1])
MAGIC = st.sampled_from(
    [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"BM", b"II*\x00",
     b"\x00\x00\x00\x18ftypisom", b"\x1a\x45\xdf\xa3"]
)  # fmt: skip


@SETTINGS
@given(st.dictionaries(MEDIA_NAMES, st.tuples(MAGIC, st.binary(max_size=64)).map(b"".join), max_size=6))
def test_the_folder_reader_gives_a_dataset_or_a_domain_error(files: dict[str, bytes]) -> None:
    files = {name: data for name, data in files.items() if name.strip(". ")}
    run = _folder(files)
    run(lambda p: read_dataset(p, "folder"))
    run(lambda p: read_dataset(p, "folder", skip_bad=True))


@SETTINGS
@given(st.one_of(BLOBS, CSV_TEXT), st.sampled_from(["list.csv", "list.jsonl"]))
def test_index_lists_give_records_or_a_domain_error(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        _only_domain_errors(lambda: expand_inputs([path]))


@SETTINGS
@given(JSON)
def test_regions_read_from_json_or_say_why(value: Any) -> None:
    _only_domain_errors(lambda: Region.from_dict(value))
    if isinstance(value, dict):
        _only_domain_errors(lambda: Region.from_dict({"box": [0, 0, 4, 4], **value}))


def _small_image(fmt: str) -> bytes:
    rgb = np.arange(16 * 12 * 3, dtype=np.uint8).reshape(12, 16, 3)  # (H, W, 3)
    first = Image.fromarray(rgb, "RGB")
    out = io.BytesIO()
    if fmt.startswith("anim-"):  # three frames: APNG, animated GIF, animated WebP
        more = [first.rotate(90), first.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        first.save(out, fmt[5:], save_all=True, append_images=more, duration=40)
    else:
        first.save(out, fmt)
    return out.getvalue()


VALID = {
    fmt: _small_image(fmt)
    for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "anim-PNG", "anim-GIF", "anim-WEBP")
}


@SETTINGS
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
    st.integers(1, 4096),
)
def test_the_decoder_gives_frames_or_a_media_error(fmt: str, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID[fmt][:cut])
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    try:
        decoded = decode_media(bytes(data), name=f"x.{fmt.lower()}", max_frames=2)
    except MediaError as err:
        assert err.reason in MEDIA_ERROR_REASONS and "\n" not in str(err)
    else:
        assert decoded.frames and all(f.mode == "RGB" for f in decoded.frames)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([".png", ".jpg", ".gif", ".mp4", ".webp", ""]))
def test_decoding_any_bytes_gives_frames_or_a_media_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"file{suffix}"
        path.write_bytes(data)
        for source in (data, path):
            try:
                decode_media(source, max_frames=2)
            except MediaError as err:
                assert err.reason in MEDIA_ERROR_REASONS


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(["1", "-2", "nan", "inf", "1e400", ",", " "]), max_size=6).map("".join),
    )
)
def test_the_search_side_parsers_answer_a_value_or_a_domain_error(text: str) -> None:
    _only_domain_errors(lambda: parse_box(text))
    _only_domain_errors(lambda: parse_weights(text))
    _only_domain_errors(lambda: parse_weights(text.replace(",", "=", 1)))
