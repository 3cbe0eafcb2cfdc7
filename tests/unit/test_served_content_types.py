"""Media are served with a content type from their bytes; a suffix never yields a scriptable type."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.serve.media_types import sniff_content_type


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.html", b"\x89PNG\r\n\x1a\n" + b"\0" * 16, "image/png"),  # the bytes win over the name
        ("a.png", b"<html><script>alert(1)</script>", "image/png"),  # unknown bytes: an image type at most
        ("a.html", b"<html><script>alert(1)</script>", "application/octet-stream"),
        ("a.svg", b"<svg onload='alert(1)'/>", "application/octet-stream"),
        ("a.js", b"alert(1)", "application/octet-stream"),
        ("a.tif", b"II*\0" + b"\0" * 16, "image/tiff"),
        ("noext", b"", "application/octet-stream"),
    ],
)
def test_content_type(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert sniff_content_type(path) == expected
