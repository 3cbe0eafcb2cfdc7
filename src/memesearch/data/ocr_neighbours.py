r"""The OCR nearest-neighbour table of UniCLIP (``cbvs10m-HNSW``): its file format, read and written.

UniCLIP draws hard negatives for its semantic (ITM) head from a table of cover-text (OCR) strings and
their nearest neighbours (research/B §3.2). The released file, and the tables memesearch builds
(:mod:`memesearch.train.tasks.uniclip_ann`), are UTF-8 text, one line per OCR string::

    ocr <TAB> nn_1 <TAB> nn_2 <TAB> ... <TAB> nn_k

The first column is the key (every key is also a candidate "random OCR" for covers without text);
the others are its neighbours, nearest first. A key without neighbours is a line with one column.
Lines are kept in file order; a repeated key keeps its first line (logged). Strings cannot hold tabs
or line breaks.

Example::

    >>> table = {"猫搞笑合集": ["狗搞笑合集", "猫咪日常"], "HOW TO DRAW CAT": []}
    >>> write_neighbour_table(table, "ocr-hnsw.tsv")                    # doctest: +SKIP
    >>> read_neighbour_table("ocr-hnsw.tsv") == table                   # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from memesearch.errors import DataFormatError

log = logging.getLogger(__name__)


def read_neighbour_table(path: str | Path) -> dict[str, list[str]]:
    """``{ocr: [nn_1, ..., nn_k]}`` from a file in the original format (module docstring)."""
    path = Path(path)
    table: dict[str, list[str]] = {}
    repeated = 0
    try:
        with path.open(encoding="utf-8", newline="\n") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                cols = line.split("\t")
                key = cols[0]
                if not key:
                    raise DataFormatError(
                        "the first column (the OCR string) is empty",
                        path=path,
                        line=number,
                        hint="each line is: ocr<TAB>nn_1<TAB>...<TAB>nn_k",
                    )
                if key in table:
                    repeated += 1
                    continue
                table[key] = [c for c in cols[1:] if c]
    except OSError as exc:
        raise DataFormatError(f"cannot read the OCR neighbour table ({exc})", path=path) from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"the OCR neighbour table is not UTF-8 ({exc.reason})", path=path) from None
    if repeated:
        log.info("%s: %d repeated keys kept once (their first line)", path, repeated)
    return table


def format_neighbour_line(key: str, neighbours: Sequence[str]) -> str:
    """One line of the table (without the newline); strings holding a tab or line break are refused."""
    for value in (key, *neighbours):
        if not value or any(ch in value for ch in "\t\r\n"):
            raise DataFormatError(
                f"OCR string {value!r} is empty or holds a tab or line break, which the table cannot hold",
                record=key,
                hint="normalise whitespace before building the table",
            )
    return "\t".join([key, *neighbours])


def write_neighbour_table(table: Mapping[str, Sequence[str]], path: str | Path) -> Path:
    """Write ``table`` in the original format, atomically; returns the path."""
    from memesearch.utils.io import atomic_write_text

    lines = [format_neighbour_line(key, nbrs) + "\n" for key, nbrs in table.items()]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(lines))
    return path
