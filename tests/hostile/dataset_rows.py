"""Malformed rows and files for every dataset format (``memesearch.data.formats``) and for the list files
``memesearch index`` reads (CSV and JSONL lists), generated deterministically into a folder.

Each :class:`RowCase` names the commands that read it: ``memesearch datasets validate FORMAT PATH`` (strict,
and with ``--skip-bad`` where rows can be skipped) for the dataset formats, ``memesearch index`` for lists
and manifest folders. The answer must be a result, or one ``error: ...`` line and exit code 2: never a
traceback, never a hang.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import picture

HUGE_FIELD = '"' + "x" * 300_000  # an unterminated quote: one field larger than the csv module's limit


@dataclass(frozen=True)
class RowCase:
    format: str  # native, native-file, msrvtt, cbvs, cbvs-train, folder, csv-list, jsonl-list
    name: str
    path: Path
    may_pass: bool = False  # the file may be read (e.g. --skip-bad skips every bad row)
    commands_: tuple[tuple[str, ...], ...] = field(default=())
    subprocess: bool = False  # a case that could block (a FIFO): only ever run in a child process

    def commands(self, index_dir: Path) -> list[list[str]]:
        out = []
        for cmd in self.commands_:
            out.append(
                [part.replace("{path}", str(self.path)).replace("{index}", str(index_dir)) for part in cmd]
            )
        return out


VALIDATE = ("datasets", "validate", "{fmt}", "{path}", "--no-check-files")
INDEX = (
    "index",
    "--index",
    "{index}",
    "--no-ocr",
    "--json",
    "--no-progress",
    "--workers",
    "0",
    "--",
    "{path}",
)


def _validate(fmt: str, *, skip: bool = True) -> tuple[tuple[str, ...], ...]:
    strict = tuple(p.replace("{fmt}", fmt) for p in VALIDATE)
    return (strict, (*strict, "--skip-bad")) if skip else (strict,)


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    path.write_bytes(data)
    return path


def _native(root: Path, name: str, items: str | bytes, manifest: str | None = None) -> Path:
    folder = root / "native" / name
    manifest = (
        manifest
        if manifest is not None
        else json.dumps({"format": "memesearch", "version": 1, "name": name, "splits": ["test"]})
    )
    _write(folder / "dataset.json", manifest)
    _write(folder / "test" / "items.jsonl", items)
    return folder


# bad item lines for the native formats (each alone after one good line)
NATIVE_ITEM_LINES = {
    "not-json": "{not json",
    "not-object": "[1, 2, 3]",
    "no-id": '{"path": "a.png"}',
    "id-is-list": '{"id": [1], "path": "a.png"}',
    "captions-string": '{"id": "x", "path": "a.png", "captions": "just one"}',
    "emotions-numbers": '{"id": "x", "path": "a.png", "emotions": [1, 2]}',
    "bad-media": '{"id": "x", "path": "a.png", "media": "hologram"}',
    "unknown-field": '{"id": "x", "path": "a.png", "extra": 1}',
    "bad-box": '{"id": "x", "path": "a.png", "objects": [{"box": [5, 5, 1, "a"]}]}',
    "nan-box": '{"id": "x", "path": "a.png", "objects": [{"box": [0, 0, NaN, Infinity]}]}',
    "bad-rle": '{"id": "x", "path": "a.png", "objects": [{"box": [0, 0, 2, 2], '
    '"mask_rle": {"size": [2], "counts": "z"}}]}',
    "deep-nesting": '{"id": "x", "meta": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge-number": '{"id": "x", "path": "a.png", "meta": {"n": 1' + "0" * 5000 + "}}",
    "non-utf8": b'{"id": "x\xff\xfe", "path": "a.png"}',
    "nul-bytes": '{"id": "x\\u0000", "path": "a\\u0000.png"}',
    "duplicate-id": '{"id": "good", "path": "b.png"}',
}
# odd but valid: a NUL inside a JSON string, a 2 MB document id, a backslash before a tab
VALID_ODDITIES = {"nul-bytes", "huge-line", "escapes"}
GOOD_ITEM = '{"id": "good", "path": "good.png", "captions": ["a caption"]}'


def build_dataset_rows(root: Path) -> list[RowCase]:
    """Write every malformed dataset file under ``root`` and return how each is read."""
    root.mkdir(parents=True, exist_ok=True)
    picture(7).save(root / "good.png")
    cases: list[RowCase] = []

    # native: a folder with dataset.json, and a single .jsonl file
    for name, line in NATIVE_ITEM_LINES.items():
        body = GOOD_ITEM.encode() + b"\n" + (line if isinstance(line, bytes) else line.encode()) + b"\n"
        folder = _native(root, name, body)
        ok = name in VALID_ODDITIES
        cases.append(RowCase("native", name, folder, may_pass=ok, commands_=_validate("native")))
        single = _write(root / "native-file" / f"{name}.jsonl", body)
        cases.append(RowCase("native-file", name, single, may_pass=ok, commands_=_validate("native")))
    for name, manifest in {
        "manifest-not-json": "{",
        "manifest-list": "[]",
        "manifest-splits-string": '{"format": "memesearch", "version": 1, "name": "x", "splits": "test"}',
        "manifest-version-99": '{"format": "memesearch", "version": 99, "name": "x", "splits": ["test"]}',
        "manifest-split-escape": '{"format": "memesearch", "version": 1, "name": "x", "splits": ["../.."]}',
    }.items():
        folder = _native(root, name, GOOD_ITEM + "\n", manifest)
        cases.append(RowCase("native", name, folder, commands_=(*_validate("native", skip=False), INDEX)))
    folder = _native(root, "index-bad-rows", GOOD_ITEM + "\n" + NATIVE_ITEM_LINES["not-object"] + "\n")
    cases.append(RowCase("native", "index-bad-rows", folder, commands_=(INDEX,)))

    # msrvtt: an MSRVTT-style folder with one file damaged at a time
    good_test = [{"video_id": "v1", "sentences": ["a cat"], "emotion": [{"person_1": "开心"}]}]
    msrvtt = {
        "ids-no-header": {"train_ids.csv": "v1\nv2\n", "train_data.json": "[]"},
        "ids-huge-field": {"train_ids.csv": "video_id\n" + HUGE_FIELD + "\n", "train_data.json": "[]"},
        "ids-non-utf8": {"train_ids.csv": b"video_id\nv\xff1\n", "train_data.json": "[]"},
        "data-not-json": {"test_data.json": "[{"},
        "data-object": {"test_data.json": '{"video_id": "v1"}'},
        "data-bad-entries": {
            "test_data.json": json.dumps(
                [1, None, {"video_id": []}, {"video_id": "v1", "sentences": "one"}, {"image_id": True}]
            )
        },
        "data-deep": {"test_data.json": "[" * 100_000 + "]" * 100_000},
        "emotion-bad": {
            "test_data.json": json.dumps(good_test),
            "test_emotion.json": '[{"video_id": "v1", "emotion": "happy"}, 5]',
        },
        "images-escape": {
            "test_data.json": json.dumps([{"video_id": "../../../../etc/passwd", "sentences": ["x"]}])
        },
    }
    for name, files in msrvtt.items():
        folder = root / "msrvtt" / name
        for fname, data in files.items():
            _write(folder / fname, data)
        cases.append(RowCase("msrvtt", name, folder, commands_=_validate("msrvtt")))

    # CBVS test and training files
    cbvs = {
        "wrong-columns": "query\tdocid\turl\tlabel\nq\td\n",
        "bad-label": "q\td1\thttp://x/1.jpg\t7\n",
        "non-utf8": b"q\xff\td1\thttp://x/1.jpg\t1\n",
        "only-tabs": "\t\t\t\n\t\t\t\n",
        "binary": bytes(range(256)) * 4,
        "empty": "",
        "huge-line": "q\t" + "d" * 2_000_000 + "\thttp://x\t1\n",
        "nul-bytes": "q\x00\td\x00\thttp://x\t1\n",
    }
    for name, data in cbvs.items():
        path = _write(root / "cbvs" / f"{name}.tsv", data)
        ok = name in VALID_ODDITIES
        cases.append(RowCase("cbvs", name, path, may_pass=ok, commands_=_validate("cbvs")))
    for name, data in {
        "wrong-columns": "title\turl\tocr\na\tb\n",
        "escapes": "t\\\thttp://x\t\\N\\N\n",
        "non-utf8": b"t\xc3\x28\thttp://x\t\\N\n",
    }.items():
        path = _write(root / "cbvs-train" / f"{name}.tsv", data)
        ok = name in VALID_ODDITIES
        cases.append(RowCase("cbvs-train", name, path, may_pass=ok, commands_=_validate("cbvs-train")))

    # a folder of media: names that promise media, content that is not; a FIFO among them
    folder = root / "folder" / "bad-files"
    _write(folder / "text.png", "hello")
    _write(folder / "empty.jpg", b"")
    picture(8).save(folder / "ok.png")
    os.mkfifo(folder / "pipe.gif")
    cases.append(
        RowCase(
            "folder",
            "bad-files",
            folder,
            may_pass=True,
            subprocess=True,
            commands_=(("datasets", "validate", "folder", "{path}"),),
        )
    )

    # the lists `memesearch index` reads
    lists = {
        "csv-no-header.csv": "good.png\n",
        "csv-empty-path.csv": "path,captions\ngood.png,ok\n,empty\n",
        "csv-huge-field.csv": "path\n" + HUGE_FIELD + "\n",
        "csv-non-utf8.csv": b"path\ngood\xff.png\n",
        "csv-binary.csv": bytes(range(256)) * 8,
        "jsonl-not-json.jsonl": '{"path": "good.png"}\n{not json\n',
        "jsonl-path-number.jsonl": '{"path": 5}\n',
        "jsonl-captions-object.jsonl": '{"path": "good.png", "captions": {"a": 1}}\n',
        "jsonl-objects-bad.jsonl": '{"path": "good.png", "objects": [{"box": "x"}]}\n',
        "jsonl-objects-nested.jsonl": '{"path": "good.png", "objects": [[1, 2]]}\n',
        "jsonl-deep.jsonl": '{"path": "good.png", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        "jsonl-non-utf8.jsonl": b'{"path": "good\xff.png"}\n',
    }
    for name, data in lists.items():
        path = _write(root / name, data)
        fmt = "csv-list" if name.endswith(".csv") else "jsonl-list"
        cases.append(RowCase(fmt, name.rsplit(".", 1)[0], path, commands_=(INDEX,)))
    fifo = root / "fifo-list.csv"
    os.mkfifo(fifo)
    cases.append(RowCase("csv-list", "fifo", fifo, subprocess=True, commands_=(INDEX,)))
    fifo_tsv = root / "cbvs" / "fifo.tsv"
    os.mkfifo(fifo_tsv)
    cases.append(RowCase("cbvs", "fifo", fifo_tsv, subprocess=True, commands_=_validate("cbvs", skip=False)))
    return cases
