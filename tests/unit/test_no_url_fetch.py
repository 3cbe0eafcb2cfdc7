"""Audit (no SSRF): memesearch fetches no URL a user or client gives it.

Dataset rows may carry item URLs (CBVS, native JSONL): they are kept as metadata, never downloaded; the
HTTP API takes no URL inputs. So no module of the package imports an HTTP client or ``urlopen``; model
weights come from local folders or the Hugging Face hub through its own library, with
``local_files_only`` where a folder is given.

One module is allowed to, and only it: the client of ``memesearch search --server URL``
(``cli/search_remote.py``), which sends a person's own query to the ``memesearch serve`` they name on
their command line (like ``--index PATH``) — no URL from a client, a dataset row or a server answer is
ever fetched. The second test pins that: only the CLI's search command imports it, and it builds
requests only for the server's two search routes.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "memesearch"
_FETCH = re.compile(
    r"^\s*(import|from)\s+(httpx|requests|urllib3|aiohttp|pycurl)\b|\burlopen\s*\(|urllib\.request\.urlretrieve"
)


#: the one module that may open a URL: the ``--server`` client of ``memesearch search`` (module docstring)
SEARCH_CLIENT = Path("cli") / "search_remote.py"


def test_the_package_has_no_url_fetching_code() -> None:
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _FETCH.search(line) and path.relative_to(SRC) != SEARCH_CLIENT
    ]
    assert not found, (
        "a module fetches URLs: allow-list hosts and refuse loopback/private ranges first\n"
        + "\n".join(found)
    )


def test_the_search_client_is_used_by_the_cli_only_and_calls_only_the_search_routes() -> None:
    importers = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC) != SEARCH_CLIENT and "search_remote" in path.read_text(encoding="utf-8")
    )
    assert importers == [str(Path("cli") / "search.py")]
    text = (SRC / SEARCH_CLIENT).read_text(encoding="utf-8")
    routes = set(re.findall(r"\{base\}(/[a-z/]*)", text))
    assert routes == {"/api/search", "/api/search/image"}
    assert len(re.findall(r"\burlopen\s*\(", text)) == 1
