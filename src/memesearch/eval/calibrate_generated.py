"""Fit generated-caption evidence apart, in two stages, so that it cannot change how anything else ranks.

A joint fit over pairs with and without generated captions moves every shared coefficient: fitted on the
emoji and text-meme val splits with their generated-caption copies, it cost the given-caption condition
(emoji val with its own captions) R@1 0.586 -> 0.431, and the text memes 0.138 -> 0.112, because the image
and lexical calibrators and the fusion weights were re-balanced for captioned galleries. So:

1. **stage 1** — the calibration of every branch and the fusion, fitted exactly as before on the pairs whose
   items carry no generated text (``generated_caption == 0``): what plain folders and given captions see;
2. **stage 2** — for each branch of ``split_generated``, a ``<branch>:generated`` calibrator fitted on the
   pairs whose item text is only generated captions (:func:`~memesearch.search.calibration.generated_rows`),
   and its fusion weight fitted on those pairs with everything of stage 1 held fixed (an offset: the
   intercept, the other branches' evidence, the "no score" biases).

Pairs of items whose text is partly generated (OCR text and a generated caption) fit neither stage; search
scores them with the stage-1 calibrators, as it scored them before. A branch without enough generated pairs
of both labels gets no generated calibrator (its stage-1 calibrator scores those pairs).

The two stages have their own L2 strength (``c`` and ``c_generated``): given and OCR text is evidence to
trust, a generated caption of an unseen concept is not, and one strength for both had to choose between
flattening the first and over-trusting the second (:func:`memesearch.eval.calibrate.select_branch_c`
chooses each on the conditions it changes).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from memesearch.eval.calibration_fit import PairSet, enough_pairs, fit_joint, logistic
from memesearch.search.calibration import (
    GENERATED_COLUMN,
    BranchCalibration,
    Calibration,
    generated_key,
    generated_rows,
    logit,
)


def without_generated(pairs: PairSet) -> PairSet:
    """The pairs whose item carries no generated text: what stage 1 is fitted on."""
    share = pairs.items[:, GENERATED_COLUMN] if pairs.items.size else np.zeros(len(pairs))
    return pairs.subset(share <= 0)


def fit_in_two_stages(
    pairs: PairSet,
    c: float,
    c_fusion: float,
    min_pairs: int,
    split_generated: Sequence[str],
    *,
    c_generated: float | None = None,
) -> Calibration:
    """Stage 1 on the pairs without generated text, stage 2 on those with only generated text (module
    docstring); ``c`` is the L2 strength of stage 1's per-branch regressions, ``c_generated`` of stage 2's
    (None: ``c``), ``c_fusion`` of the fusion's."""
    stage1 = fit_joint(without_generated(pairs), c, c_fusion, min_pairs)
    return add_generated_stage(
        stage1, pairs, c if c_generated is None else c_generated, c_fusion, min_pairs, split_generated
    )


def add_generated_stage(
    stage1: Calibration,
    pairs: PairSet,
    c: float,
    c_fusion: float,
    min_pairs: int,
    split_generated: Sequence[str],
) -> Calibration:
    """``stage1`` (left as it is) with stage 2 fitted on the generated-text pairs of ``pairs``: a new
    calibration; ``c`` is the L2 strength of the ``<branch>:generated`` regressions. Stage 1 can thus be
    fitted once and reused for every stage-2 strength tried."""
    calibration = copy.deepcopy(stage1)
    gen = pairs.subset(generated_rows(pairs.items))
    y = gen.labels.astype(int)
    if not enough_pairs(y, min_pairs):
        return calibration
    fitted: dict[str, BranchCalibration] = {}
    for name in split_generated:
        if name not in calibration.branches or name not in gen.features:
            continue
        present = ~np.isnan(gen.scores[name])
        if enough_pairs(y[present], min_pairs):
            coef, intercept = logistic(gen.features[name][present], y[present], c)
            fitted[name] = BranchCalibration(coef, intercept)
    if not fitted:
        return calibration
    # the fixed part: stage 1's log-odds of these pairs without the branches that get their own evidence
    offset = np.full(len(gen), calibration.fusion_intercept)
    columns = []
    for name in calibration.base_branches:
        s = gen.scores.get(name)
        if s is None:
            offset += calibration.missing.get(name, 0.0)
            continue
        present = ~np.isnan(s)
        offset += np.where(present, 0.0, calibration.missing.get(name, 0.0))
        p = np.full(len(gen), 0.5)
        cal = fitted.get(name, calibration.branches[name])
        p[present] = cal.probability(gen.features[name][present])
        if name in fitted:
            columns.append(np.where(present, logit(p), 0.0))
        else:
            offset += np.where(present, calibration.fusion_weights.get(name, 0.0) * logit(p), 0.0)
    weights, _ = logistic(np.column_stack(columns), y, c_fusion, offset=offset, intercept=False)
    names = [n for n in calibration.base_branches if n in fitted]
    for name, weight in zip(names, weights, strict=True):
        calibration.branches[generated_key(name)] = fitted[name]
        calibration.fusion_weights[generated_key(name)] = weight
    return calibration


__all__ = ["add_generated_stage", "fit_in_two_stages", "without_generated"]
