"""The branches of search side by side on one split, and their fusion, weights chosen on validation.

For the evaluation split and the validation split alike, each branch gives a ``(Q, N)`` score matrix
over the split's whole gallery (NaN = the branch has no score for that item). The branch names are
search's own (:data:`memesearch.search.branches.BRANCHES`), and each is defined as search defines it:

- ``image``: query vs image — a trained retrieval run (``--checkpoint``, :func:`run_branches`: a stage-1
  run, or the stage-1 model a stage-2 run holds, or else its recorded ``init_from`` run), or an image
  encoder's towers (``--model``, e.g. ``starter``);
- ``text``: query vs the item's passage (captions, then OCR, joined: what the index embeds) — a trained
  text-branch Task (clip4meme-qc, ief stage qc) or a text encoder; oracle captions optional;
- ``lexical``: BM25 over the same passage, calibrated per query to [0, 1].

Fusion weights are chosen on the validation split (:func:`memesearch.eval.fusion_weights.select_weights`,
grid over the simplex, refusing test) and applied unchanged to the evaluation split; every branch and
the fused score are then evaluated with the SPEC §5 metrics, per language when asked.

Example::

    branches = default_branches(image=image_encoder_scorer(create_encoder("starter")),
                                text=text_encoder_scorer(create_encoder("e5-small")))
    res = compare_branches(ds, "test", branches)
    print(res.table())
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError
from memesearch.eval.encoders import text_branch_scores
from memesearch.eval.metrics import MetricsReport
from memesearch.eval.report import BRANCH_COLUMNS, branch_rows, branch_table
from memesearch.eval.retrieval import evaluate_scores
from memesearch.search.branches import BRANCHES

log = logging.getLogger(__name__)

#: A branch scorer: (dataset, split name) -> (Q, N) scores in split order, NaN = no score.
Scorer = Callable[[Dataset, str], np.ndarray]

BRANCH_ORDER = (*BRANCHES, "fused")
COLUMNS = BRANCH_COLUMNS


def floor_missing(scores: np.ndarray) -> np.ndarray:
    """Scores with NaN replaced by a value below every real score (so unscored items rank last)."""
    out = np.asarray(scores, dtype=np.float64)
    missing = np.isnan(out)
    if not missing.any():
        return out
    finite = out[~missing]
    floor = (float(finite.min()) if finite.size else 0.0) - 1.0
    return np.where(missing, floor, out)


def text_encoder_scorer(encoder: Any, *, captions: bool = True) -> Scorer:
    """The text branch from a text encoder: cosine of the query with each item's passage."""

    def score(ds: Dataset, split: str) -> np.ndarray:
        sp = ds[split]
        s = text_branch_scores([q.text for q in sp.queries], sp.items, encoder, captions=captions)
        out = s.astype(np.float64)
        has_text = np.array([bool(it.texts(oracle_captions=captions)) for it in sp.items])
        out[:, ~has_text] = np.nan
        return out

    return score


def lexical_scorer(*, captions: bool = True) -> Scorer:
    """Lexical branch: BM25 over each item's context text (NaN for items without text)."""

    def score(ds: Dataset, split: str) -> np.ndarray:
        from memesearch.models.lexical import LexicalIndex

        sp = ds[split]
        texts = [it.passage(oracle_captions=captions) or None for it in sp.items]
        index = LexicalIndex()
        index.build(sp.item_ids(), texts)
        return np.asarray(index.score([q.text for q in sp.queries]), dtype=np.float64)

    return score


def image_encoder_scorer(encoder: Any, *, captions: bool = True) -> Scorer:
    """The image branch from an image encoder (its image-branch query tower for queries, image tower for
    items).

    An encoder with an ``encode_items(images, emotions, texts=...)`` method (the ``starter`` model: image
    tower + QI emotion gate; a ``checkpoint:<run>`` of clip4meme: gate + co-attention over the item's
    context texts, oracle captions left out unless ``captions``) is used as trained.
    """
    from memesearch.eval.encoders import image_branch_scores

    def score(ds: Dataset, split: str) -> np.ndarray:
        sp = ds[split]
        texts = [q.text for q in sp.queries]
        if not hasattr(encoder, "encode_items"):
            return image_branch_scores(texts, sp.items, encoder, root=ds.root).astype(np.float64)
        paths = []
        for it in sp.items:
            p = it.resolve_path(ds.root)
            if p is None:
                raise ConfigError(
                    f"item {it.id!r} has no local image file; the image branch needs one per item"
                )
            paths.append(p)
        items = encoder.encode_items(
            paths,
            [it.emotions for it in sp.items],
            texts=[it.texts(oracle_captions=captions) for it in sp.items],
        )
        queries = encoder.encode_image_queries(texts)
        return np.asarray(queries @ items.T, dtype=np.float64)

    return score


def _nan_for_no_score(scores: Any) -> np.ndarray:
    """A Task's scores with :data:`~memesearch.models.fusion.NO_SCORE` (no input, e.g. no context text)
    as NaN, the :data:`Scorer` convention (so that fusion treats them as missing, not as a score)."""
    from memesearch.models.fusion import NO_SCORE

    out = np.asarray(scores, dtype=np.float64)
    return np.where(out == NO_SCORE, np.nan, out)


def task_scorer(task: Any, model: Any, *, device: str = "cpu") -> Scorer:
    """A branch from a trained retrieval Task (``task.score_split(model, dataset, split)``)."""

    def score(ds: Dataset, split: str) -> np.ndarray:
        return _nan_for_no_score(task.score_split(model, ds, split, device=device))

    return score


class _TaskBranches:
    """``task.score_branches`` of one trained model, computed once per (dataset, split)."""

    def __init__(self, task: Any, model: Any, device: str) -> None:
        self.task, self.model, self.device = task, model, device
        self._cache: dict[tuple[int, str], dict[str, np.ndarray]] = {}

    def scores(self, ds: Dataset, split: str) -> dict[str, np.ndarray]:
        key = (id(ds), split)
        if key not in self._cache:
            out = self.task.score_branches(self.model, ds, split, device=self.device)
            self._cache[key] = {k: _nan_for_no_score(v) for k, v in out.items() if k in BRANCHES}
        return self._cache[key]

    def scorer(self, name: str) -> Scorer:
        return lambda ds, split: self.scores(ds, split)[name]


#: Loads a training run: path -> (Task, model in eval mode), e.g. ``load_trained_model(path)[:2]``.
RunLoader = Callable[[Path], tuple[Any, Any]]
#: The run a run was initialised from (its config's ``init_from``, resolved), or None.
InitFrom = Callable[[Path], "Path | None"]


@dataclass
class RunBranches:
    """The branches a training run gives :func:`compare_branches`, and where each comes from."""

    scorers: dict[str, Scorer]
    sources: dict[str, str]  # branch -> one line: which run and how


def run_branches(
    run: str | Path,
    dataset: Dataset,
    split: str,
    *,
    load: RunLoader,
    init_from: InitFrom,
    device: str = "cpu",
) -> RunBranches:
    """The image and/or text branch of a trained retrieval run (``evaluate --compare --checkpoint RUN``).

    Every branch the run's Task yields from ``score_branches`` is used: a stage-1 run (clip4meme-qi,
    ief stage qi) gives ``image``; a stage-2 run (clip4meme-qc, ief stage qc) gives ``text`` and —
    because its model holds the stage-1 model, frozen — ``image`` too, scored exactly as the stage-1 run
    it was initialised from. A text-branch run whose Task yields no ``image`` gets it from its stage-1
    run: the ``init_from`` recorded in its checkpoint (``init_from(run)``), loaded with ``load``; a
    :class:`ConfigError` names the path when that run is gone or records none.

    ``load`` and ``init_from`` are passed in (the CLI passes
    :func:`memesearch.train.checkpoint.load_trained_model` and
    :func:`memesearch.train.checkpoint.recorded_init_from`): evaluation does not import training.
    The split ``split`` is scored once here, to learn which branches the Task yields (cached).
    """
    run = Path(run)
    task, model = load(run)
    branch = getattr(task, "branch", None)
    if not hasattr(task, "score_branches") or branch not in ("image", "text"):
        raise ConfigError(
            f"the Task of {run} is not a retrieval Task (it has no image or text branch to score)"
        )
    cached = _TaskBranches(task, model, device)
    yielded = [name for name in BRANCHES if name in cached.scores(dataset, split)]
    if branch not in yielded:
        raise ConfigError(f"the Task of {run} scores no {branch!r} branch (its branches: {yielded})")
    kind = type(task).__name__
    scorers = {name: cached.scorer(name) for name in yielded}
    sources = {name: f"run {run} ({kind})" for name in yielded}
    if branch == "text" and "image" in yielded:
        sources["image"] = (
            f"run {run} ({kind}): its own score_branches, i.e. the stage-1 model it holds, frozen"
        )
    if branch == "text" and "image" not in yielded:
        stage1 = init_from(run)
        if stage1 is None:  # nothing to go on: the caller gives the image branch another way, or refuses
            log.warning("%s scores no image branch and records no init_from", run)
            return RunBranches(scorers, sources)
        first = run_branches(stage1, dataset, split, load=load, init_from=init_from, device=device)
        if "image" not in first.scorers:
            raise ConfigError(
                f"{stage1}, the init_from of {run}, gives no image branch "
                f"(its branches: {', '.join(first.scorers)})"
            )
        scorers["image"] = first.scorers["image"]
        sources["image"] = f"stage-1 run {stage1} (the init_from recorded in {run})"
    log.info("branches of %s: %s", run, sources)
    return RunBranches(scorers, sources)


@dataclass
class CompareResult:
    """Per query group (``all``, ``en``, ``zh``...) and branch: the metrics; plus the weight selection."""

    split: str
    val_split: str
    reports: dict[str, dict[str, MetricsReport]]  # group -> branch -> report
    selection: Any  # memesearch.eval.fusion_weights.WeightSelection
    skipped: dict[str, str] = field(default_factory=dict)  # branch -> why it was left out

    def rows(self) -> list[dict[str, Any]]:
        return branch_rows(self.reports, BRANCH_ORDER)

    def table(self) -> str:
        """A Markdown table: one row per (query group, branch)."""
        return branch_table(self.rows())


def _groups(split: Split, by_lang: bool) -> dict[str, np.ndarray]:
    groups = {"all": np.arange(len(split.queries))}
    if by_lang:
        langs: dict[str, list[int]] = {}
        for i, q in enumerate(split.queries):
            lang = q.meta.get("lang")
            if isinstance(lang, str) and lang:
                langs.setdefault(lang, []).append(i)
        groups.update({k: np.asarray(v) for k, v in sorted(langs.items())})
    return groups


def compare_branches(
    dataset: Dataset,
    split: str,
    branches: Mapping[str, Scorer],
    *,
    val_split: str = "val",
    by_lang: bool = False,
    metric: str = "R@10",
    grid: float = 0.1,
    fill: Mapping[str, float] | None = None,
    ties: str = "pessimistic",
    threshold: int = 1,
) -> CompareResult:
    """Evaluate each branch and their fusion on ``split``, with weights selected on ``val_split``."""
    from memesearch.eval.fusion_weights import select_weights

    if split == val_split:
        raise ConfigError(f"the evaluation split and the validation split are both {split!r}")
    if not branches:
        raise ConfigError("compare needs at least one branch")
    val, test = dataset[val_split], dataset[split]
    val_scores: dict[str, np.ndarray] = {}
    test_scores: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name, scorer in branches.items():
        t = scorer(dataset, split)
        if np.isnan(t).all():
            skipped[name] = f"no item of {split!r} has input for this branch (e.g. no caption or OCR text)"
            continue
        test_scores[name] = t
        val_scores[name] = scorer(dataset, val_split)
        log.info("scored branch %s on %s and %s", name, split, val_split)
    if not test_scores:
        raise ConfigError(
            "no branch could score this split: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    kwargs: dict[str, Any] = {"ties": ties, "threshold": threshold}
    selection = select_weights(
        val_scores,
        val.qrels(),
        val.item_ids(),
        [q.id for q in val.queries],
        split_name=val_split,
        grid=grid,
        metric=metric,
        fill=fill,
        **kwargs,
    )
    test_scores["fused"] = selection.fuse(test_scores)
    item_ids = test.item_ids()
    reports: dict[str, dict[str, MetricsReport]] = {}
    for group, rows in _groups(test, by_lang).items():
        qs = [test.queries[i] for i in rows]
        qrels = {q.id: dict(q.qrels) for q in qs}
        qids = [q.id for q in qs]
        reports[group] = {
            name: evaluate_scores(floor_missing(s[rows]), qrels, qids, item_ids, **kwargs)
            for name, s in test_scores.items()
        }
    return CompareResult(split, val_split, reports, selection, skipped)


def write_compare(
    result: CompareResult, out: str | Path, *, title: str, extra: Mapping[str, Any] | None = None
) -> list[Path]:
    """compare.md, compare.json, fusion_weights.json and fusion_sweep.png into ``out``."""
    import json

    from memesearch.eval.fusion_weights import plot_sweep

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sel = result.selection
    md = out / "compare.md"
    md.write_text(
        f"# {title}\n\nFusion weights chosen on `{result.val_split}` by {sel.metric}: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sel.weights.items())
        + "\n\n"
        + result.table()
        + "\n"
        + "".join(f"\nbranch {k} left out: {v}" for k, v in result.skipped.items())
        + "\n",
        encoding="utf-8",
    )
    js = out / "compare.json"
    payload = {
        "title": title,
        "split": result.split,
        "val_split": result.val_split,
        "weights": dict(sel.weights),
        "selection_metric": sel.metric,
        "selection_value": sel.metric_value,
        "rows": result.rows(),
        "skipped": result.skipped,
        **({"inputs": dict(extra)} if extra else {}),
    }
    js.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    written = [md, js, sel.save(out / "fusion_weights.json")]
    if len(sel.weights) > 1:
        written.append(plot_sweep(sel, out / "fusion_sweep.png"))
    return written


def default_branches(
    *,
    image: Scorer | None,
    text: Scorer | None,
    lexical: bool = True,
    captions: bool = True,
) -> dict[str, Scorer]:
    """The usual branch set, in :data:`BRANCHES` order: image and text (if given), lexical (unless off)."""
    out: dict[str, Scorer] = {}
    if image is not None:
        out["image"] = image
    if text is not None:
        out["text"] = text
    if lexical:
        out["lexical"] = lexical_scorer(captions=captions)
    return out


__all__: Sequence[str] = (
    "CompareResult",
    "RunBranches",
    "compare_branches",
    "default_branches",
    "floor_missing",
    "image_encoder_scorer",
    "lexical_scorer",
    "run_branches",
    "task_scorer",
    "text_encoder_scorer",
    "write_compare",
)
