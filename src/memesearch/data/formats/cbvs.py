"""CBVS TSV files (SPEC §4.3, research/B §2.1 and §3.1): the test file and the training file.

Both are UTF-8, tab-separated, one record per line, no header (a header line naming the columns is
accepted and skipped).

**Test file** (format ``"cbvs"``, e.g. CBVS-20K ``cbvs20k.txt``)::

    query <TAB> docid <TAB> url <TAB> label        label: 0 not relevant, 1 weakly relevant, 2 relevant

is read as one split ``"test"``: one item per unique ``docid`` (``url``; ``source`` from the docid
prefix: ``70001002_`` -> ``tencent-video``, ``80000851_`` -> ``bilibili``) and one query per unique
query string, **whose id is the query string itself** (CBVS has no query ids), with qrels
``{docid: label}``. A repeated (query, docid) row with the same label is harmless (the real CBVS-20K
file has 183 of them); a different label for the same pair, or a different url for the same docid, is
a bad row. (Run files ``label, query, docid, score`` are read by :mod:`memesearch.eval.run_io`.)

**Training file** (format ``"cbvs-train"``, CBVS-5M/10M)::

    title <TAB> url <TAB> ocr                      ocr: the cover's text, or \\N when it has none

is read as one split ``"train"`` with one item per unique ``url``: ``id`` = ``url``, ``captions`` = its
titles (several rows of one url add titles; an empty title adds none), ``ocr`` = the OCR text or
``None`` for ``\\N`` (an empty column is also ``None``).

A url of the form ``file:///...`` is a local file: it is read into ``Item.path`` (absolute), and an
item with a path but no url is written that way, so local datasets survive the round trip.

Writing keeps what the format holds; query ids (replaced by their texts), captions, emotions, items
never judged (test file) and queries (training file) are dropped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

from memesearch.data.formats._io import atomic_open, check_replace, get_split, read_lines, require_file
from memesearch.data.formats.report import RowErrors
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

TEST_COLUMNS = ("query", "docid", "url", "label")
TRAIN_COLUMNS = ("title", "url", "ocr")
RUN_COLUMNS = ("label", "query", "docid", "score")
NULL = "\\N"
LABELS = ("0", "1", "2")
SOURCES = {"70001002_": "tencent-video", "80000851_": "bilibili"}
TEST_SPLIT = "test"
TRAIN_SPLIT = "train"


def source_of(docid: str) -> str | None:
    """The platform a CBVS docid comes from, by its prefix (``None`` when unknown)."""
    for prefix, source in SOURCES.items():
        if docid.startswith(prefix):
            return source
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff(path: Path) -> str | None:
    """Which CBVS file this is, from its first line: ``"cbvs"``, ``"cbvs-train"``, ``"cbvs-run"`` or None."""
    try:
        with path.open("rb") as fh:
            first = b""
            for raw in fh:
                if raw.strip():
                    first = raw
                    break
    except OSError:
        return None
    cols = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n").split("\t")
    lowered = tuple(c.strip().lower() for c in cols)
    if lowered in (TEST_COLUMNS, TRAIN_COLUMNS, RUN_COLUMNS):
        return {TEST_COLUMNS: "cbvs", TRAIN_COLUMNS: "cbvs-train", RUN_COLUMNS: "cbvs-run"}[lowered]
    if len(cols) == 4 and cols[3].strip() in LABELS:
        return "cbvs"
    if _is_run_line(cols):
        return "cbvs-run"
    if len(cols) == 3:
        return "cbvs-train"
    return None


def _url_or_path(url: str) -> tuple[str | None, str | None]:
    """``(url, path)`` from a url column: ``file://`` urls become a local path."""
    if url.startswith("file://"):
        from urllib.request import url2pathname

        return None, url2pathname(urlparse(url).path)
    return url, None


def _is_run_line(cols: list[str]) -> bool:
    """``label, query, docid, score``: a run line, whose last column is a score and not a label."""
    return (
        len(cols) == 4 and cols[0].strip() in LABELS and _is_number(cols[3]) and cols[3].strip() not in LABELS
    )


def _location(item: Item, root: Path | None) -> str:
    """The url column of an item: its url, else its file as a ``file://`` url."""
    if item.url is not None:
        return item.url
    path = item.resolve_path(root)
    if path is None:
        raise DataFormatError(
            "item has neither a url nor a path", record=item.id, hint="CBVS files name each cover by its url"
        )
    return path.resolve().as_uri()


def _is_header(lineno: int, cols: list[str], expected: tuple[str, ...]) -> bool:
    return lineno == 1 and tuple(c.strip().lower() for c in cols) == expected


# --------------------------------------------------------------------------------------------- test file


def read_test(path: Path, errors: RowErrors) -> Dataset:
    """Read a CBVS test file (``query, docid, url, label``) into the split ``"test"``."""
    require_file(path, "CBVS test file")
    items: dict[str, Item] = {}
    item_line: dict[str, int] = {}
    queries: dict[str, Query] = {}
    pair_line: dict[tuple[str, str], int] = {}
    repeats = 0
    expected = "query<TAB>docid<TAB>url<TAB>label"
    for lineno, text in read_lines(path, errors):
        cols = text.split("\t")
        if _is_header(lineno, cols, TEST_COLUMNS):
            continue
        if not items and _is_run_line(cols):
            raise DataFormatError(
                "this looks like a CBVS run file (label, query, docid, score), not a test file",
                path=path,
                line=lineno,
                hint="score run files with `memesearch evaluate --format cbvs --run FILE`",
            )
        try:
            if len(cols) != 4:
                raise DataFormatError(
                    f"expected 4 tab-separated columns (query, docid, url, label), got {len(cols)}",
                    path=path,
                    line=lineno,
                    hint=f"each line is: {expected}",
                )
            query_text, docid, url, label = cols
            for name, value in (("query", query_text), ("docid", docid), ("url", url)):
                if not value.strip():
                    raise DataFormatError(
                        f"empty {name}", path=path, line=lineno, hint=f"each line is: {expected}"
                    )
            if label.strip() not in LABELS:
                raise DataFormatError(
                    f"label must be 0, 1 or 2, got {label!r}",
                    path=path,
                    line=lineno,
                    hint="CBVS labels: 0 not relevant, 1 weakly relevant, 2 relevant",
                )
            grade = int(label)
            item_url, item_path = _url_or_path(url)
            known = items.get(docid)
            if known is not None and (known.url, known.path) != (item_url, item_path):
                raise DataFormatError(
                    f"docid {docid!r} has url {known.url or known.path!r} on line {item_line[docid]} "
                    f"but {url!r} here",
                    path=path,
                    line=lineno,
                    hint="one docid is one cover: fix the url or the docid",
                )
            query = queries.get(query_text)
            if query is not None and docid in query.qrels:
                if query.qrels[docid] != grade:
                    raise DataFormatError(
                        f"query {query_text!r} labels docid {docid!r} {query.qrels[docid]} on line "
                        f"{pair_line[(query_text, docid)]} but {grade} here",
                        path=path,
                        line=lineno,
                        hint="keep one label per (query, docid)",
                    )
                repeats += 1  # the same judgement twice: idempotent
                continue
        except DataFormatError as exc:
            errors.bad(exc)
            continue
        if known is None:
            items[docid] = Item(id=docid, url=item_url, path=item_path, source=source_of(docid))
            item_line[docid] = lineno
        if query is None:
            query = queries[query_text] = Query(id=query_text, text=query_text)
        query.qrels[docid] = grade
        pair_line[(query_text, docid)] = lineno
    if repeats:
        logger.info("%s: %d repeated (query, docid) rows with the same label", path, repeats)
    split = Split(TEST_SPLIT, items=list(items.values()), queries=list(queries.values()))
    return Dataset(name=path.stem, splits={TEST_SPLIT: split}, root=path.parent.resolve())


def _field(value: str, what: str, record: str) -> str:
    if any(ch in value for ch in "\t\r\n"):
        raise DataFormatError(
            f"{what} {value!r} contains a tab or line break, which a TSV line cannot hold",
            record=record,
            hint="clean the text before writing",
        )
    return value


def _pick_split(dataset: Dataset, split: str | None, preferred: str) -> Split:
    if split is not None:
        return get_split(dataset, split)
    if len(dataset.splits) == 1:
        return next(iter(dataset))
    if preferred in dataset:
        return dataset[preferred]
    raise ConfigError(
        f"a CBVS file holds one split; dataset {dataset.name!r} has {', '.join(dataset.split_names)}: "
        "choose one (`datasets convert --split NAME`, or split=NAME)"
    )


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_open(path) as fh:
        for line in lines:
            fh.write(line + "\n")


def write_test(dataset: Dataset, path: Path, *, split: str | None = None, overwrite: bool = False) -> Path:
    """Write one split as a CBVS test file: a line per judged (query, item), in query order.

    ``split``: which split (default: the only one, else ``"test"``).
    """
    chosen = _pick_split(dataset, split, TEST_SPLIT)
    index = chosen.item_index()
    judged: set[str] = set()
    seen_texts: dict[str, str] = {}
    lines: list[str] = []
    renamed = unjudged_queries = 0
    for query in chosen.queries:
        text = _field(query.text, "query text", query.id)
        if not text.strip():
            raise DataFormatError("empty query text", record=query.id)
        if text in seen_texts:
            raise DataFormatError(
                f"queries {seen_texts[text]!r} and {query.id!r} have the same text; CBVS identifies a query "
                "by its text",
                record=query.id,
                hint="merge their qrels into one query",
            )
        seen_texts[text] = query.id
        renamed += query.id != query.text
        unjudged_queries += not query.qrels
        for item_id, grade in query.qrels.items():
            item = index.get(item_id)
            if item is None:
                raise DataFormatError(
                    f"query {query.id!r} judges item {item_id!r}, which is not in split {chosen.name!r}",
                    record=query.id,
                    hint="a CBVS line needs the item's url",
                )
            if str(grade) not in LABELS:
                raise DataFormatError(
                    f"grade {grade} of item {item_id!r} is not a CBVS label (0, 1 or 2)", record=query.id
                )
            docid = _field(item_id, "docid", item_id)
            url = _field(_location(item, dataset.root), "url", item_id)
            lines.append(f"{text}\t{docid}\t{url}\t{grade}")
            judged.add(item_id)
    check_replace([path], overwrite)
    _write_lines(path, lines)
    lost = {
        "query ids (a query is named by its text)": renamed,
        "queries without judgements": unjudged_queries,
        "items no query judges": len(index) - len(judged),
        "items with captions, OCR, emotions or meta": sum(
            1 for it in chosen.items if it.captions or it.ocr is not None or it.emotions or it.meta
        ),
    }
    _warn_lost(dataset, lost)
    return path


# --------------------------------------------------------------------------------------------- training file


def read_train(path: Path, errors: RowErrors) -> Dataset:
    r"""Read a CBVS training file (``title, url, ocr`` with ``\N`` for no OCR) into the split ``"train"``."""
    require_file(path, "CBVS training file")
    items: dict[str, Item] = {}
    first_line: dict[str, int] = {}
    expected = "title<TAB>url<TAB>ocr (\\N when the cover has no text)"
    for lineno, text in read_lines(path, errors):
        cols = text.split("\t")
        if _is_header(lineno, cols, TRAIN_COLUMNS):
            continue
        try:
            if len(cols) != 3:
                raise DataFormatError(
                    f"expected 3 tab-separated columns (title, url, ocr), got {len(cols)}",
                    path=path,
                    line=lineno,
                    hint=f"each line is: {expected}",
                )
            title, url, ocr_text = cols
            if not url.strip():
                raise DataFormatError("empty url", path=path, line=lineno, hint=f"each line is: {expected}")
            ocr = None if ocr_text in (NULL, "") else ocr_text
            known = items.get(url)
            if known is not None and known.ocr != ocr:
                raise DataFormatError(
                    f"url {url!r} has OCR {known.ocr!r} on line {first_line[url]} but {ocr!r} here",
                    path=path,
                    line=lineno,
                    hint="one cover has one OCR text",
                )
        except DataFormatError as exc:
            errors.bad(exc)
            continue
        if known is None:
            item_url, item_path = _url_or_path(url)
            known = items[url] = Item(id=url, url=item_url, path=item_path, ocr=ocr)
            first_line[url] = lineno
        if title and title not in known.captions:
            known.captions.append(title)
    split = Split(TRAIN_SPLIT, items=list(items.values()))
    return Dataset(name=path.stem, splits={TRAIN_SPLIT: split}, root=path.parent.resolve())


def write_train(dataset: Dataset, path: Path, *, split: str | None = None, overwrite: bool = False) -> Path:
    r"""Write one split as a CBVS training file: a line per (item, caption); ``\N`` for no OCR.

    An item without captions is one line with an empty title. ``split``: default the only one, else
    ``"train"``.
    """
    chosen = _pick_split(dataset, split, TRAIN_SPLIT)
    lines: list[str] = []
    renamed = 0
    for item in chosen.items:
        url = _field(_location(item, dataset.root), "url", item.id)
        renamed += item.id != url
        if item.ocr == NULL:
            raise DataFormatError(
                f"OCR text is literally {NULL!r}, which the format reads as 'no OCR'", record=item.id
            )
        ocr = NULL if item.ocr is None or item.ocr == "" else _field(item.ocr, "OCR text", item.id)
        for title in item.captions or [""]:
            lines.append(f"{_field(title, 'caption', item.id)}\t{url}\t{ocr}")
    check_replace([path], overwrite)
    _write_lines(path, lines)
    lost = {
        "item ids (an item is named by its url)": renamed,
        "queries": len(chosen.queries),
        "items with emotions, source or meta": sum(
            1 for it in chosen.items if it.emotions or it.source is not None or it.meta
        ),
    }
    _warn_lost(dataset, lost)
    return path


def _warn_lost(dataset: Dataset, lost: dict[str, int]) -> None:
    what = "; ".join(f"{n} {kind}" for kind, n in lost.items() if n)
    if what:
        logger.warning("CBVS output of %r cannot hold: %s", dataset.name, what)
