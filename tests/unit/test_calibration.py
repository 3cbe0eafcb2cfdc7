"""Calibrated fusion: recovers known probabilities, the log-odds fusion, features, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.eval.calibrate import (
    PairSet,
    calibration_metrics,
    fit_calibration,
    fused_logit,
    ranking_metrics,
    relevance_of,
    select_branch_c,
)
from memesearch.eval.calibrate_generated import without_generated
from memesearch.search.calibration import (
    FEATURES,
    GENERATED_COLUMN,
    ITEM_FEATURES,
    RANK_CAP,
    Calibration,
    generated_key,
    generated_rows,
    pair_features,
    query_features,
)


def synthetic_pairs(seed: int, n_queries: int = 300, per_query: int = 40) -> tuple[PairSet, np.ndarray]:
    """One branch whose score s gives relevance with probability sigmoid(10 s - 6); items featureless."""
    rng = np.random.default_rng(seed)
    scores, feats, truth, labels, query = [], [], [], [], []
    items = np.zeros((per_query, len(ITEM_FEATURES)))
    for q in range(n_queries):
        s = rng.uniform(0.0, 1.0, per_query)
        p = 1.0 / (1.0 + np.exp(-(10.0 * s - 6.0)))
        scores.append(s)
        feats.append(pair_features(s, items))
        truth.append(p)
        labels.append(rng.uniform(size=per_query) < p)
        query.append(np.full(per_query, q))
    pairs = PairSet(
        scores={"image": np.concatenate(scores)},
        features={"image": np.concatenate(feats)},
        items=np.zeros((n_queries * per_query, len(ITEM_FEATURES))),
        labels=np.concatenate(labels),
        query=np.concatenate(query),
        relevant_total=int(np.concatenate(labels).sum()),
    )
    return pairs, np.concatenate(truth)


def test_fit_recovers_true_probabilities_and_is_calibrated_on_new_data() -> None:
    pairs, _ = synthetic_pairs(0)
    cal = fit_calibration(pairs)
    test, truth = synthetic_pairs(1)
    got = relevance_of(cal, test)
    assert np.mean(np.abs(got - truth)) < 0.03  # the true probabilities, from scores alone
    metrics = calibration_metrics(cal, test)
    assert metrics["ece"] < 0.03
    assert 0 < metrics["precision_at_cut"] <= 1 and 0 < metrics["recall_at_cut_all"] <= 1
    assert sum(b["pairs"] for b in metrics["reliability"]) == len(test)


def test_query_features_rank_and_gap() -> None:
    gap, log_rank = query_features(np.array([0.2, 0.9, np.nan, 0.9, 0.5]))
    assert np.allclose(gap[[0, 1, 3, 4]], [-0.7, 0.0, 0.0, -0.4]) and np.isnan(gap[2])
    assert np.allclose(np.exp(log_rank[[0, 1, 3, 4]]), [4, 1, 1, 3])  # ties share the better rank
    _, capped = query_features(np.arange(100.0))
    assert np.exp(capped).max() == pytest.approx(RANK_CAP)


def test_fusion_of_log_odds_and_missing_branches() -> None:
    coef = [0.0] * len(FEATURES)
    cal = Calibration(
        branches={"image": _const(0.8, coef), "text": _const(0.3, coef)},
        fusion_intercept=0.0,
        fusion_weights={"image": 1.0, "text": 1.0},
        missing={"text": -1.0},
    )
    items = np.zeros((2, len(ITEM_FEATURES)))
    rel, probs = cal.relevance({"image": np.array([0.1, 0.2]), "text": np.array([0.5, np.nan])}, items)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert np.allclose(probs["image"], 0.8) and np.isnan(probs["text"][1])
    assert rel[0] == pytest.approx(1 / (1 + np.exp(-(logit(0.8) + logit(0.3)))))
    assert rel[1] == pytest.approx(1 / (1 + np.exp(-(logit(0.8) - 1.0))))  # no text score: its bias
    back = Calibration.from_dict(cal.to_dict())
    assert np.allclose(back.relevance({"image": np.array([0.1, 0.2])}, items)[0], cal.relevance(
        {"image": np.array([0.1, 0.2])}, items)[0])  # fmt: skip
    with pytest.raises(ConfigError, match="refit it with `memesearch tune`"):
        Calibration.from_dict({**cal.to_dict(), "version": 99})


V1_FEATURES = ["score", "gap", "log_rank", "ocr_lines", "ocr_quality", "has_caption", "is_gif", "is_video"]
V2_FEATURES = ["score", "gap", "log_rank", "log_scored", *V1_FEATURES[3:]]


def test_a_version_1_calibration_still_loads_and_gives_the_same_relevance() -> None:
    coef = [6.0, 0.5, -0.3, 0.2, -0.1, 0.0, 0.0, 0.0]
    old = {
        "version": 1,
        "features": V1_FEATURES,
        "rank_cap": RANK_CAP,
        "branches": {"image": {"coef": coef, "intercept": -3.0}},
        "fusion": {"intercept": 0.5, "weights": {"image": 1.2}, "missing": {"image": 0.0}},
    }
    cal = Calibration.from_dict(old)
    assert cal.version == 3 and cal.branches["image"].coef[FEATURES.index("log_scored")] == 0.0
    assert cal.branches["image"].coef[FEATURES.index("generated_caption")] == 0.0
    scores = np.array([0.1, 0.3, 0.2])
    items = np.array([[1.0, 0.9, 0, 0, 0], [0, 0, 0, 0, 0], [2.0, 0.5, 0, 0, 0]])
    z = -3.0 + np.column_stack([scores, *query_features(scores), items]) @ np.array(coef)
    expected = 1 / (1 + np.exp(-(0.5 + 1.2 * z)))  # the version-1 formula
    generated = np.column_stack([items, [1.0, 0.0, 0.5]])  # version 3 rows: generated captions change nothing
    assert np.allclose(cal.relevance({"image": scores}, generated)[0], expected)
    assert Calibration.from_dict(cal.to_dict()).to_dict() == cal.to_dict()  # written as version 3
    with pytest.raises(ConfigError, match="refit it"):
        Calibration.from_dict({**old, "features": list(FEATURES)})  # version 1 with other features


def test_a_version_2_calibration_still_loads_and_ignores_generated_captions() -> None:
    coef = [4.0, 1.0, -0.5, 0.3, 0.1, 0.2, 0.4, -0.2, 0.1]
    old = {
        "version": 2,
        "features": V2_FEATURES,
        "rank_cap": RANK_CAP,
        "branches": {"image": {"coef": coef, "intercept": -2.0}, "text": {"coef": coef, "intercept": -1.0}},
        "fusion": {"intercept": -0.5, "weights": {"image": 1.0, "text": 0.7}, "missing": {"text": -0.4}},
    }
    cal = Calibration.from_dict(old)
    assert cal.base_branches == ["image", "text"] and cal.branches["text"].coef[-1] == 0.0
    scores = {"image": np.array([0.2, 0.1, 0.3]), "text": np.array([0.9, np.nan, 0.8])}
    v2_items = np.array([[0, 0, 1, 0, 0], [1, 0.8, 0, 0, 0], [0, 0, 1, 1, 0]], np.float64)

    def v2_logit(name: str, intercept: float) -> np.ndarray:
        s = scores[name]
        gap, log_rank = query_features(s)
        log_scored = np.log(np.sum(~np.isnan(s)))
        x = np.column_stack([s, gap, log_rank, np.full(3, log_scored), v2_items])
        return np.nan_to_num(x @ np.array(coef) + intercept)  # logit(p) of the branch

    expected = 1 / (1 + np.exp(-(-0.5 + v2_logit("image", -2.0) + 0.7 * v2_logit("text", -1.0)
                                + np.array([0, -0.4, 0]))))  # fmt: skip
    for share in (0.0, 0.5, 1.0):  # the share of generated captions is read, and weighs nothing
        items = np.column_stack([v2_items, [share, 0.0, share]])
        assert np.allclose(cal.relevance(scores, items)[0], expected)
    with pytest.raises(ConfigError, match="refit it"):
        Calibration.from_dict({**old, "features": V1_FEATURES})


def test_old_calibrations_count_generated_captions_as_captions_as_they_did() -> None:
    """Versions 1 and 2 read ``has_caption`` as any caption; version 3 as a given one."""
    coef = [0.0] * len(V2_FEATURES)
    coef[V2_FEATURES.index("has_caption")] = 2.0
    old = {"version": 2, "features": V2_FEATURES, "rank_cap": RANK_CAP,
           "branches": {"image": {"coef": coef, "intercept": 0.0}},
           "fusion": {"intercept": 0.0, "weights": {"image": 1.0}, "missing": {}}}  # fmt: skip
    cal = Calibration.from_dict(old)
    assert cal.caption_includes_generated
    items = np.zeros((3, len(ITEM_FEATURES)))
    items[0, GENERATED_COLUMN] = 1.0  # generated captions only: a caption, for version 2
    items[1, ITEM_FEATURES.index("has_caption")] = 1.0  # a given caption
    rel = cal.relevance({"image": np.zeros(3)}, items)[0]
    sig2 = 1 / (1 + np.exp(-2.0))
    assert np.allclose(rel, [sig2, sig2, 0.5])
    back = Calibration.from_dict(cal.to_dict())  # written as version 3, still reading captions as before
    assert back.caption_includes_generated and np.allclose(
        back.relevance({"image": np.zeros(3)}, items)[0], rel
    )
    new = Calibration.from_dict({**cal.to_dict(), "caption_includes_generated": False})
    assert np.allclose(new.relevance({"image": np.zeros(3)}, items)[0], [0.5, sig2, 0.5])


def test_generated_calibrator_scores_only_pairs_with_generated_text() -> None:
    coef = [0.0] * len(FEATURES)
    cal = Calibration(
        branches={"text": _const(0.9, coef), generated_key("text"): _const(0.2, coef)},
        fusion_intercept=0.0,
        fusion_weights={"text": 1.0, generated_key("text"): 0.5},
        missing={"text": -1.0},
    )
    assert cal.base_branches == ["text"]
    items = np.zeros((3, len(ITEM_FEATURES)))
    items[1, GENERATED_COLUMN] = 1.0  # its whole text is a generated caption
    items[2, GENERATED_COLUMN] = 0.5  # a generated caption and an OCR line: the given evidence decides
    rel, probs = cal.relevance({"text": np.array([0.7, 0.7, 0.7])}, items)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert np.allclose(probs["text"], [0.9, 0.2, 0.9])
    assert np.allclose(rel, 1 / (1 + np.exp(-np.array([logit(0.9), 0.5 * logit(0.2), logit(0.9)]))))
    back = Calibration.from_dict(cal.to_dict())
    assert back.to_dict()["branches"].keys() == {"text", "text:generated"}
    assert np.allclose(back.relevance({"text": np.array([0.7, 0.7, 0.7])}, items)[0], rel)


def generated_pairs(seed: int, n_queries: int = 240, per_query: int = 30) -> PairSet:
    """A text branch whose score means a lot on items with given captions (relevance sigmoid(12 s - 7))
    and little on items with generated ones (a confident wrong name: sigmoid(1 s - 2.5)); half the items
    of each query carry generated captions."""
    rng = np.random.default_rng(seed)
    scores, feats, items_all, labels, query = [], [], [], [], []
    for q in range(n_queries):
        s = rng.uniform(0.3, 1.0, per_query)
        items = np.zeros((per_query, len(ITEM_FEATURES)))
        items[:, ITEM_FEATURES.index("has_caption")] = 1.0
        gen = rng.uniform(size=per_query) < 0.5
        items[gen, GENERATED_COLUMN] = 1.0
        p = np.where(gen, 1 / (1 + np.exp(-(1.0 * s - 2.5))), 1 / (1 + np.exp(-(12.0 * s - 7.0))))
        scores.append(s)
        feats.append(pair_features(s, items))
        items_all.append(items)
        labels.append(rng.uniform(size=per_query) < p)
        query.append(np.full(per_query, q))
    labels_all = np.concatenate(labels)
    return PairSet(
        scores={"text": np.concatenate(scores)},
        features={"text": np.concatenate(feats)},
        items=np.concatenate(items_all),
        labels=labels_all,
        query=np.concatenate(query),
        relevant_total=int(labels_all.sum()),
    )


def test_split_generated_fits_its_own_calibrator_and_ranks_better_on_new_queries() -> None:
    train, test = generated_pairs(0), generated_pairs(1)
    split = fit_calibration(train, c=1.0, split_generated=("text",))
    plain = fit_calibration(train, c=1.0)
    assert set(split.branches) == {"text", "text:generated"} and set(plain.branches) == {"text"}
    assert split.fitted_on["split_generated"] == ["text"]
    # the generated calibrator learnt that a generated caption's score says little
    gen = split.branches["text:generated"].coef[FEATURES.index("score")]
    assert gen < split.branches["text"].coef[FEATURES.index("score")] / 3
    assert np.allclose(1 / (1 + np.exp(-fused_logit(split, test))), relevance_of(split, test))
    assert calibration_metrics(split, test)["ece"] < calibration_metrics(plain, test)["ece"]
    better = ranking_metrics(fused_logit(split, test), test.labels, test.query)
    worse = ranking_metrics(fused_logit(plain, test), test.labels, test.query)
    assert better["NDCG@10"] > worse["NDCG@10"]
    # with no generated pairs to fit, nothing is split
    given = train.subset(~generated_rows(train.items))
    assert set(fit_calibration(given, c=1.0, split_generated=("text",)).branches) == {"text"}


def test_two_stage_fit_keeps_everything_else_as_a_fit_without_generated_text() -> None:
    """Stage 1 is the fit of the pairs without generated text, untouched by stage 2; pairs whose text is
    partly generated fit neither stage."""
    train = generated_pairs(4)
    share = train.items[:, GENERATED_COLUMN]
    share[::7] = np.where(share[::7] > 0, 0.5, share[::7])  # some items: OCR text and a generated caption
    split = fit_calibration(train, c=0.3, split_generated=("text", "image"))  # no image scores: ignored
    alone = fit_calibration(train.subset(share == 0), c=0.3)
    assert set(split.branches) == {"text", "text:generated"}
    assert np.allclose(split.branches["text"].coef, alone.branches["text"].coef)
    assert split.branches["text"].intercept == pytest.approx(alone.branches["text"].intercept)
    assert split.fusion_intercept == pytest.approx(alone.fusion_intercept)
    assert split.fusion_weights["text"] == pytest.approx(alone.fusion_weights["text"])
    assert split.missing == pytest.approx(alone.missing)
    plain = train.subset(share == 0)  # the items without generated text rank exactly as without stage 2
    assert np.allclose(fused_logit(split, plain), fused_logit(alone, plain))


def test_item_feature_table_reads_the_share_of_generated_captions(tmp_path) -> None:
    from memesearch.index import Index
    from memesearch.search.calibration import ItemFeatureTable

    with Index.create(tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False) as idx:
        from memesearch.ingest import Ingestor
        from memesearch.utils.synthetic import shapes_image

        files = tmp_path / "f"
        files.mkdir()
        for i in range(3):
            shapes_image(40 + i, (32, 32)).save(files / f"{i}.png")
        listing = tmp_path / "list.jsonl"
        import json

        rows = [
            {"path": str(files / "0.png")},
            {"path": str(files / "1.png"), "captions": ["a cat"]},
            {"path": str(files / "2.png"), "captions": ["a dog", "dog face"],
             "meta": {"generated_captions": [{"text": "dog face", "lang": "en"}]}},
        ]  # fmt: skip
        listing.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        summary = Ingestor(idx).add_paths([listing], workers=0)
        assert len(summary.indexed) == 3
        rowids = np.array(sorted(r[0] for r in idx.context_rows()))
        table = ItemFeatureTable(idx).lookup(rowids)
        by_caption = {
            tuple(it.captions): table[i] for i, it in enumerate(idx.items(rowids.tolist()).values())
        }
        given = ITEM_FEATURES.index("has_caption")
        assert by_caption[()][GENERATED_COLUMN] == 0.0 and by_caption[()][given] == 0.0
        assert by_caption[("a cat",)][GENERATED_COLUMN] == 0.0 and by_caption[("a cat",)][given] == 1.0
        assert by_caption[("a dog", "dog face")][GENERATED_COLUMN] == 0.5  # one of its two text lines
        assert by_caption[("a dog", "dog face")][given] == 1.0


def test_ranking_metrics_break_ties_pessimistically_and_fused_logit_matches_search() -> None:
    query = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([False, True, False, True, False, False])
    m = ranking_metrics(np.array([0.5, 0.5, 0.1, 0.9, 0.2, 0.1]), labels, query, k=1)
    assert m["queries"] == 2 and m["R@1"] == 0.5  # query 0's relevant item ties for first: rank 2
    assert m["NDCG@1"] == pytest.approx(0.5)
    pairs, _ = synthetic_pairs(3, n_queries=30)
    cal = fit_calibration(pairs, c=1.0)
    assert np.allclose(1 / (1 + np.exp(-fused_logit(cal, pairs))), relevance_of(cal, pairs))


def test_too_few_pairs_is_a_clear_refusal() -> None:
    pairs, _ = synthetic_pairs(2, n_queries=1, per_query=5)
    with pytest.raises(ConfigError, match="too few labelled pairs"):
        fit_calibration(pairs)


def _const(p: float, coef: list[float]):
    from memesearch.search.calibration import BranchCalibration

    return BranchCalibration(list(coef), float(np.log(p / (1 - p))))


def test_each_stage_gets_its_own_strength_chosen_on_what_it_changes() -> None:
    """Stage 1's C is cross-validated on the pairs without generated text alone (what a joint selection over
    just those pairs gives); the generated calibrators' C then on every pair, stage 1 fixed. A fit with both
    strengths has stage 1 of a fit at ``c`` and the generated calibrator of a fit at ``c_generated``."""
    pairs = generated_pairs(5, n_queries=120)
    grid = (0.01, 0.3)
    c, record = select_branch_c(pairs, grid=grid, folds=3, split_generated=("text",))
    alone, alone_record = select_branch_c(without_generated(pairs), grid=grid, folds=3)
    assert c == alone and record["tried"] == alone_record["tried"] and alone_record["c_generated"] is None
    assert record["c_generated"] in grid and record["generated"]["chosen"] == record["c_generated"]
    assert [r["c"] for r in record["generated"]["tried"]] == list(grid)
    assert record["result"]["c"] == record["c_generated"] and "0" in record["result"]["groups"]
    both = fit_calibration(pairs, c=0.01, c_generated=0.3, split_generated=("text",))
    weak, strong = (fit_calibration(pairs, c=v, split_generated=("text",)) for v in (0.3, 0.01))
    assert np.allclose(both.branches["text"].coef, strong.branches["text"].coef)
    assert np.allclose(both.branches["text:generated"].coef, weak.branches["text:generated"].coef)
    assert not np.allclose(weak.branches["text:generated"].coef, strong.branches["text:generated"].coef)
    assert both.fitted_on["branch_c"] == {"chosen": 0.01, "c_generated": 0.3, "cross_validated": False}
    chosen = fit_calibration(pairs, c_grid=grid, folds=3, split_generated=("text",))
    assert chosen.fitted_on["branch_c"]["c_generated"] == record["c_generated"]


def test_a_strength_is_inadmissible_only_for_a_significant_loss_family_wise() -> None:
    """The rule in the record: a condition is worse than its best branch when its loss exceeds z standard
    errors, z one-sided at 5% with Bonferroni over groups x metrics; every row follows it."""
    from statistics import NormalDist

    pairs = PairSet.concat([generated_pairs(6, n_queries=80), generated_pairs(7, n_queries=80)])
    _, record = select_branch_c(pairs, grid=(0.001, 0.03, 1.0), folds=3)
    z = NormalDist().inv_cdf(1 - 0.05 / (2 * 3))
    assert record["worse_beyond_se"] == pytest.approx(z, abs=1e-3) and z > 2.3
    for row in record["tried"]:
        losses = [m for g in row["groups"].values() for k, m in g.items() if k != "queries"]
        assert row["admissible"] == all(m["gain"] >= -z * m["se"] - 1e-4 for m in losses)
