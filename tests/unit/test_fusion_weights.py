"""Fusion weight selection on a validation split: the grid, the known best point, ties, refusals, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.errors import ConfigError, DataFormatError
from memesearch.eval.fusion_weights import (
    WeightSelection,
    is_test_split,
    plot_sweep,
    select_weights,
    weight_grid,
)
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models.fusion import fuse_scores

NAN = float("nan")


def test_weight_grid_covers_the_simplex() -> None:
    grid = weight_grid(["qi", "qc", "lexical"], step=0.1)
    assert len(grid) == 66  # C(10 + 2, 2)
    assert all(abs(sum(p.values()) - 1) < 1e-12 and min(p.values()) >= 0 for p in grid)
    assert len({tuple(p.values()) for p in grid}) == 66
    assert weight_grid(["a"], step=0.5) == [{"a": 1.0}]
    with pytest.raises(ConfigError, match="divide 1"):
        weight_grid(["a", "b"], step=0.3)


def _known_best_example(n_queries: int = 6) -> tuple[dict[str, np.ndarray], dict, list[str], list[str]]:
    """Each query: its positive scores (a=0.875, b=0.375), a distractor (1, 0) and one (0, 2).

    With weight w on branch "a": positive 0.375 + 0.5w, distractors w and 2(1 - w). The positive is
    first only for 0.65 < w < 0.75, so on a 0.1 grid the only point with R@1 = 1 is a=0.7, b=0.3.
    """
    rng = np.random.default_rng(0)
    item_ids, query_ids = [], []
    a_cols, b_cols, qrels = [], [], {}
    for q in range(n_queries):
        query_ids.append(f"q{q}")
        trio = [("pos", 0.875, 0.375), ("d1", 1.0, 0.0), ("d2", 0.0, 2.0)]
        for j in rng.permutation(3):
            name, a, b = trio[j]
            item_ids.append(f"q{q}-{name}")
            a_cols.append((q, a))
            b_cols.append((q, b))
        qrels[f"q{q}"] = {f"q{q}-pos": 1}
    n = len(item_ids)
    a_scores = np.full((n_queries, n), -1.0)
    b_scores = np.full((n_queries, n), -1.0)
    for col, ((qa, a), (_, b)) in enumerate(zip(a_cols, b_cols, strict=True)):
        a_scores[qa, col], b_scores[qa, col] = a, b  # other queries' items score low on every branch
    return {"a": a_scores, "b": b_scores}, qrels, item_ids, query_ids


def test_select_weights_finds_the_known_best_point() -> None:
    scores, qrels, item_ids, query_ids = _known_best_example()
    sel = select_weights(scores, qrels, item_ids, query_ids, split_name="val", metric="R@1", grid=0.1)
    assert sel.weights == {"a": pytest.approx(0.7), "b": pytest.approx(0.3)}
    assert sel.metric_value == 1.0
    assert sel.split_name == "val" and sel.metric == "R@1"
    assert (sel.n_queries, sel.n_items) == (6, 18)
    assert len(sel.sweep) == 11
    # the sweep holds the real metric of every grid point: recompute two of them
    for weights, value in (sel.sweep[0], sel.sweep[5]):
        fused = fuse_scores(scores, weights)
        assert value == evaluate_scores(fused, qrels, query_ids, item_ids)["R@1"]
    assert [v for w, v in sel.sweep if abs(w["a"] - 0.7) > 1e-9] == [0.0] * 10
    np.testing.assert_allclose(sel.fuse(scores), fuse_scores(scores, {"a": 0.7, "b": 0.3}))


def test_select_weights_minimises_rank_metrics() -> None:
    scores, qrels, item_ids, query_ids = _known_best_example()
    sel = select_weights(scores, qrels, item_ids, query_ids, split_name="validation", metric="MdR")
    assert sel.weights["a"] == pytest.approx(0.7) and sel.metric_value == 1.0
    assert not sel.higher_is_better


def test_select_weights_ties_go_to_the_point_nearest_equal_weights() -> None:
    # both branches rank every positive first whatever the weights: every grid point ties
    s = np.array([[1.0, 0.0], [0.0, 1.0]])
    qrels = {"q0": {"i0": 1}, "q1": {"i1": 1}}
    sel = select_weights({"x": s, "y": s, "z": s}, qrels, ["i0", "i1"], ["q0", "q1"], split_name="val")
    assert sel.metric_value == 1.0
    assert sel.weights == {"x": pytest.approx(0.3), "y": pytest.approx(0.3), "z": pytest.approx(0.4)}


def test_select_weights_refuses_test_splits() -> None:
    scores, qrels, item_ids, query_ids = _known_best_example(2)
    for name in ("test", "TEST", "test_unseen", "emoji-test"):
        with pytest.raises(ConfigError, match="never on test"):
            select_weights(scores, qrels, item_ids, query_ids, split_name=name)
    sel = select_weights(scores, qrels, item_ids, query_ids, split_name="test", allow_test=True)
    assert sel.split_name == "test"
    assert not is_test_split("val") and not is_test_split("latest") and is_test_split("test2")


def test_select_weights_errors() -> None:
    scores, qrels, item_ids, query_ids = _known_best_example(2)
    with pytest.raises(ConfigError, match="unknown metric 'R@7'"):
        select_weights(scores, qrels, item_ids, query_ids, split_name="val", metric="R@7")
    with pytest.raises(ValueError, match=r"\(Q, N\)"):
        select_weights(scores, qrels, item_ids[:-1], query_ids, split_name="val")
    with pytest.raises(ConfigError, match="undefined"):
        select_weights(scores, {}, item_ids, query_ids, split_name="val")


def test_select_weights_with_missing_scores_ranks_unscored_items_last() -> None:
    # item "none" has no score from any branch; it would otherwise be the best match
    qi = np.array([[0.2, 0.9, 0.1]])
    lex = np.array([[1.0, NAN, 0.0]])
    qi[0, 1] = NAN
    qrels = {"q": {"hit": 1}}
    sel = select_weights(
        {"qi": qi, "lexical": lex}, qrels, ["hit", "none", "other"], ["q"], split_name="val", metric="R@1"
    )
    assert sel.metric_value == 1.0
    explicit = [{"qi": 1.0, "lexical": 0.0}, {"qi": 0.5, "lexical": 0.5}]
    sel = select_weights(
        {"qi": qi, "lexical": lex},
        qrels,
        ["hit", "none", "other"],
        ["q"],
        split_name="val",
        grid=explicit,
        fill={"lexical": 0.0},
    )
    assert [w for w, _ in sel.sweep] == explicit and sel.fill == {"lexical": 0.0}


def test_selection_round_trip(tmp_path: Path) -> None:
    scores, qrels, item_ids, query_ids = _known_best_example(2)
    sel = select_weights(scores, qrels, item_ids, query_ids, split_name="val", fill={"b": 0.0})
    path = sel.save(tmp_path / "fusion.json")
    assert WeightSelection.load(path) == sel
    path.write_text('{"weights": {}}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not a weight selection"):
        WeightSelection.load(path)


@pytest.mark.parametrize("n_branches", [2, 3, 4])
def test_plot_sweep_writes_a_png(tmp_path: Path, n_branches: int) -> None:
    rng = np.random.default_rng(n_branches)
    names = ["qi", "qc", "lexical", "extra"][:n_branches]
    n_q, n_items = 5, 12
    scores = {b: rng.random((n_q, n_items)) for b in names}
    qrels = {f"q{i}": {f"i{i}": 1} for i in range(n_q)}
    sel = select_weights(
        scores,
        qrels,
        [f"i{j}" for j in range(n_items)],
        [f"q{i}" for i in range(n_q)],
        split_name="val",
        grid=0.25,
        metric="MnR",
    )
    out = plot_sweep(sel, tmp_path / "plots" / "sweep.png")
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (640, 480)
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["sweep.png"]  # no temp file left
