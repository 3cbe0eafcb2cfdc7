"""Audit (no SSRF): memesearch fetches no URL a user or client gives it.

Dataset rows may carry item URLs (CBVS, native JSONL): they are kept as metadata, never downloaded; the
HTTP API takes no URL inputs. So no module of the package imports an HTTP client or ``urlopen``; model
weights come from local folders or the Hugging Face hub through its own library, with
``local_files_only`` where a folder is given.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "memesearch"
_FETCH = re.compile(
    r"^\s*(import|from)\s+(httpx|requests|urllib3|aiohttp|pycurl)\b|\burlopen\s*\(|urllib\.request\.urlretrieve"
)


def test_the_package_has_no_url_fetching_code() -> None:
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _FETCH.search(line)
    ]
    assert not found, (
        "a module fetches URLs: allow-list hosts and refuse loopback/private ranges first\n"
        + "\n".join(found)
    )
