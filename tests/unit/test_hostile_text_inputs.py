"""Text inputs built to break parsers: JSON nested 100,000 deep, integers of 5,000 digits, CSV fields larger
than the csv module's limit, lists that are not UTF-8, a list file that is a named pipe. Each reader answers
with a DataFormatError naming the file (and line), never a RecursionError, ValueError, csv.Error or a hang.
Found by the hostile-input corpus (tests/hostile)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from memesearch.data.formats import read_dataset
from memesearch.errors import DataFormatError
from memesearch.eval.run_io import read_run
from memesearch.ingest.inputs import expand_inputs
from memesearch.utils.io import loads_json

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" + "0" * 5000


@pytest.mark.parametrize("text", [DEEP, '{"a": ' + DEEP + "}", HUGE_INT, '{"n": -' + HUGE_INT + "}", "{"])
def test_loads_json_fails_only_with_a_json_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        loads_json(text)
    assert info.value.lineno == 1 and str(info.value)


def test_loads_json_reads_what_json_reads() -> None:
    text = '{"a": [1, 2.5, "x", null, true], "b": {"c": "\\u00e9"}}'
    assert loads_json(text) == json.loads(text)
    assert loads_json("[" * 500 + "]" * 500) == json.loads("[" * 500 + "]" * 500)  # deep, not too deep


@pytest.mark.parametrize("row", [DEEP, '{"id": "x", "meta": {"n": ' + HUGE_INT + "}}"])
def test_native_rows_nested_too_deep_or_with_huge_numbers_are_bad_rows(tmp_path: Path, row: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "good", "path": "a.png"}\n' + row + "\n")
    with pytest.raises(DataFormatError, match=r"items\.jsonl:2"):
        read_dataset(path, "native")
    dataset = read_dataset(path, "native", skip_bad=True)
    assert [item.id for item in dataset["all"].items] == ["good"]


def test_a_run_row_nested_too_deep_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"query_id": "q", "item_id": "d", "score": 1}\n' + DEEP + "\n")
    with pytest.raises(DataFormatError, match=r"run\.jsonl:2"):
        read_run(path, "jsonl")


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("deep.jsonl", ('{"path": "a.png", "meta": ' + DEEP + "}\n").encode(), r"deep\.jsonl:1"),
        ("int.jsonl", ('{"path": "a.png", "meta": ' + HUGE_INT + "}\n").encode(), r"int\.jsonl:1"),
        ("latin1.csv", b"path\ncaf\xe9.png\n", r"latin1\.csv:2.*UTF-8"),
        ("binary.csv", bytes(range(256)) * 4, r"binary\.csv.*UTF-8"),
        ("huge.csv", b'path\n"' + b"x" * 300_000 + b"\n", r"huge\.csv.*field larger"),
    ],
)
def test_malformed_lists_are_data_format_errors(tmp_path: Path, name: str, data: bytes, where: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=where):
        expand_inputs([path])


@pytest.mark.parametrize("name", ["list.csv", "list.jsonl"])
def test_a_list_that_is_a_named_pipe_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            expand_inputs([fifo])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test process can end
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("reading a list that is a named pipe blocked")
    (error,) = outcome
    assert isinstance(error, DataFormatError) and "regular file" in str(error) and name in str(error)


def test_dataset_items_without_a_local_file_are_reported_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "dataset.json").write_text(
        json.dumps({"format": "memesearch", "version": 1, "name": "d", "splits": ["test"]})
    )
    (tmp_path / "a.png").write_bytes(b"x")
    rows = [{"id": "a", "path": "a.png"}, {"id": "web", "url": "https://example.org/x.png"}, {"id": "none"}]
    (tmp_path / "test" / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    expanded = expand_inputs([tmp_path])
    assert [r.path.name for r in expanded.records] == ["a.png"]
    (message,) = expanded.messages
    assert "2 item(s) have no local file" in message and "web, none" in message
