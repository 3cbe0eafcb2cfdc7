"""``carve_split`` (data/splits.py) and ``memesearch datasets split``: counts, determinism,
disjointness, qrels integrity, refusals, and an in-place rewrite that keeps every other file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.data.splits import carve_split, is_test_split, rewrite_native_folder
from memesearch.errors import ConfigError
from memesearch.eval.fusion_weights import is_test_split as eval_is_test_split


def _dataset(n_items: int = 20, n_queries: int = 20) -> Dataset:
    """train: query k judges item k (grade 2) and item k+1 (grade 1); queries 0 and 1 share a text.
    A test split that must never change."""
    items = [Item(id=f"i{k}", path=f"images/{k}.png") for k in range(n_items)]
    queries = [
        Query(
            id=f"q{k}",
            text="shared text" if k < 2 else f"text {k}",
            qrels={f"i{k}": 2, f"i{(k + 1) % n_items}": 1, f"i{(k + 5) % n_items}": 0},
        )
        for k in range(n_queries)
    ]
    test = Split("test", [Item(id="t0", path="t.png")], [Query("tq", "t", {"t0": 1})])
    return Dataset("toy", {"train": Split("train", items, queries), "test": test})


def _check_integrity(ds: Dataset) -> None:
    for split in ds:
        ids = set(split.item_ids())
        assert len(ids) == len(split.items)
        for q in split.queries:
            assert set(q.qrels) <= ids, (split.name, q.id)


def test_by_query_moves_a_seeded_fraction_and_shares_the_gallery() -> None:
    ds = _dataset()
    res = carve_split(ds, source="train", target="val", fraction=0.25, seed=3)
    train, val = res.dataset["train"], res.dataset["val"]
    assert res.dataset.split_names == ["train", "val", "test"]
    # 19 distinct texts (q0 and q1 share one): round(0.25 * 19) = 5 texts move
    assert len({q.text for q in val.queries}) == 5
    assert {q.id for q in train.queries}.isdisjoint({q.id for q in val.queries})
    assert {q.text for q in train.queries}.isdisjoint({q.text for q in val.queries})
    assert len(train.queries) + len(val.queries) == 20
    assert train.item_ids() == val.item_ids() == ds["train"].item_ids()  # shared gallery
    original = {q.id: q.qrels for q in ds["train"].queries}
    assert all(q.qrels == original[q.id] for q in val.queries)  # judgements move unchanged
    _check_integrity(res.dataset)
    assert res.dataset["test"] is ds["test"]
    assert len(ds["train"].queries) == 20 and "val" not in ds  # the input is unchanged


def test_equal_texts_move_together() -> None:
    for seed in range(10):
        val = carve_split(_dataset(), fraction=0.5, seed=seed).dataset["val"]
        ids = {q.id for q in val.queries}
        assert ("q0" in ids) == ("q1" in ids)


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = carve_split(_dataset(), fraction=0.3, seed=7)
    b = carve_split(_dataset(), fraction=0.3, seed=7)
    c = carve_split(_dataset(), fraction=0.3, seed=8)
    assert a.moved_queries == b.moved_queries and a.dataset.counts() == b.dataset.counts()
    assert a.moved_queries != c.moved_queries
    ai = carve_split(_dataset(), fraction=0.5, by="item", seed=1)
    bi = carve_split(_dataset(), fraction=0.5, by="item", seed=1)
    assert ai.moved_items == bi.moved_items and ai.moved_queries == bi.moved_queries


def test_by_item_moves_items_and_the_queries_that_follow_them() -> None:
    ds = _dataset()
    res = carve_split(ds, fraction=0.5, by="item", seed=2)
    train, val = res.dataset["train"], res.dataset["val"]
    assert len(val.items) == 10 and len(train.items) == 10
    assert set(train.item_ids()).isdisjoint(val.item_ids())
    assert sorted(train.item_ids() + val.item_ids()) == sorted(ds["train"].item_ids())
    moved = set(res.moved_items)
    assert set(val.item_ids()) == moved
    _check_integrity(res.dataset)  # no judgement points across the two galleries
    original = {q.id: q for q in ds["train"].queries}
    for q in val.queries:  # moved: every relevant item moved
        assert all(i in moved for i, g in original[q.id].qrels.items() if g > 0)
    dropped = 0
    for q in train.queries:
        relevant = [i for i, g in original[q.id].qrels.items() if g > 0]
        assert not all(i in moved for i in relevant)
        dropped += len(original[q.id].qrels) - len(q.qrels)
    dropped += sum(len(original[q.id].qrels) - len(q.qrels) for q in val.queries)
    assert res.dropped_qrels == dropped > 0
    assert res.split_queries and set(res.split_queries) <= {q.id for q in train.queries}
    assert "stayed in 'train'" in res.summary()
    assert len(train.queries) + len(val.queries) == 20


def test_overwrite_replaces_the_target_where_it_was() -> None:
    ds = _dataset()
    ds.splits = {"train": ds["train"], "val": Split("val"), "test": ds["test"]}
    with pytest.raises(ConfigError, match=r"already has a split 'val'.*--overwrite"):
        carve_split(ds, fraction=0.2)
    res = carve_split(ds, fraction=0.2, overwrite=True)
    assert res.dataset.split_names == ["train", "val", "test"] and res.dataset["val"].queries


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "test"}, "refusing to use test split 'test' as the source"),
        ({"target": "test"}, "refusing to use test split 'test' as the target"),
        ({"target": "test-seen"}, "refusing to use test split 'test-seen'"),
        ({"source": "trian"}, "has no split 'trian'; its splits are: train, test"),
        ({"target": "train"}, "both 'train'"),
        ({"fraction": 0.0}, r"--fraction must be a number in \(0, 1\)"),
        ({"fraction": 1.0}, r"--fraction must be a number in \(0, 1\)"),
        ({"fraction": 0.01}, "nothing would move"),
        ({"fraction": 0.99}, "nothing would be left in 'train'"),
        ({"by": "image"}, "--by must be one of query, item"),
        ({"by": "item", "fraction": 0.05}, "would have no queries"),
    ],
)
def test_refusals(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"fraction": 0.3, **kwargs}
    with pytest.raises(ConfigError, match=message):
        carve_split(_dataset(), **args)  # type: ignore[arg-type]


def test_is_test_split_is_the_one_rule() -> None:
    names = ["test", "Test", "test-seen", "emoji_test", "val", "train", "latest", "contest", "testing", "dev"]
    assert [is_test_split(n) for n in names] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert eval_is_test_split is is_test_split  # fusion-weight selection asks the same function


# ---- the command --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def native_dir(tmp_path: Path) -> Path:
    ds = _dataset()
    ds.root = tmp_path / "ds"  # item paths relative to the dataset folder
    folder = write_dataset(ds, tmp_path / "ds", "native")
    (folder / "images").mkdir()
    (folder / "images" / "0.png").write_bytes(b"not really a png")
    (folder / "train" / "notes.txt").write_text("kept", encoding="utf-8")
    (folder / "README.md").write_text("card", encoding="utf-8")
    return folder


def _split_argv(path: Path, *extra: str) -> list[str]:
    return ["datasets", "split", str(path), "--from", "train", "--to", "val", "--fraction", "0.25", *extra]


def test_cli_in_place_rewrites_atomically_and_keeps_other_files(
    native_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_before = (native_dir / "test" / "queries.jsonl").read_bytes()
    assert main(_split_argv(native_dir, "--seed", "3")) == 0
    out = capsys.readouterr().out
    assert "│ train │    20 │      20 │" in out  # before
    assert "│ train │    20 │      15 │" in out and "│ val   │    20 │       5 │" in out  # after
    assert f"rewrote {native_dir.resolve()}" in out
    ds = read_dataset(native_dir)
    assert ds.split_names == ["train", "val", "test"]
    expected = carve_split(_dataset(), fraction=0.25, seed=3).dataset
    for name in ("train", "val"):
        assert ds[name].qrels() == expected[name].qrels()
        assert ds[name].item_ids() == expected[name].item_ids()
    assert ds["val"].items[0].path == "images/0.png"  # paths still relative to the folder
    assert (native_dir / "test" / "queries.jsonl").read_bytes() == test_before
    assert (native_dir / "images" / "0.png").read_bytes() == b"not really a png"
    assert (native_dir / "train" / "notes.txt").read_text(encoding="utf-8") == "kept"
    assert (native_dir / "README.md").read_text(encoding="utf-8") == "card"
    assert not [p for p in native_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left

    assert main(_split_argv(native_dir)) == 2
    assert "already has a split 'val'" in capsys.readouterr().err
    assert main(_split_argv(native_dir, "--overwrite", "--by", "item", "--fraction", "0.5")) == 0
    out = capsys.readouterr().out
    assert "judgements of items on the other side dropped" in out
    _check_integrity(read_dataset(native_dir))


def test_cli_out_writes_a_new_native_dataset_from_another_format(
    native_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msrvtt = tmp_path / "msrvtt"
    ds = read_dataset(native_dir)
    ds.splits = {"train": ds["train"]}
    ds.splits["train"].queries = [
        Query(q.id, q.text, {i: g for i, g in q.qrels.items() if g > 0}) for q in ds["train"].queries
    ]
    write_dataset(ds, msrvtt, "msrvtt")
    assert main(_split_argv(msrvtt)) == 2
    assert "give --out DIR" in capsys.readouterr().err
    out = tmp_path / "carved"
    assert main(_split_argv(msrvtt, "--out", str(out))) == 0
    assert f"written to {out}" in capsys.readouterr().out
    carved = read_dataset(out)
    assert "val" in carved and carved["val"].queries
    assert not (msrvtt / "dataset.json").exists()  # the source is left alone
    assert main(_split_argv(msrvtt, "--out", str(out))) == 2  # existing files need --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "test"], "refusing to use test split 'test' as the source"),
        (["--to", "test"], "refusing to use test split 'test' as the target"),
        (["--from", "nope"], "has no split 'nope'"),
        (["--fraction", "1.5"], r"--fraction must be a number in (0, 1)"),
        (["--by", "pixels"], "--by must be one of query, item"),
    ],
)
def test_cli_refusals_are_one_line(
    native_dir: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in native_dir.rglob("*") if p.is_file()}
    assert main([*_split_argv(native_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in native_dir.rglob("*") if p.is_file()} == before


def test_rewrite_refuses_a_folder_that_is_not_a_split(native_dir: Path) -> None:
    (native_dir / "val").mkdir()
    res = carve_split(read_dataset(native_dir), fraction=0.25)
    with pytest.raises(ConfigError, match="is not a split of"):
        rewrite_native_folder(res.dataset, native_dir)
    assert json.loads((native_dir / "dataset.json").read_text())["splits"] == ["train", "test"]
