"""Caption metrics: BLEU-1..4, ROUGE-L and CIDEr-D of generated captions against reference captions. Pure.

Definitions (the COCO caption toolkit's choices, written from the papers):

* **Tokens** (:func:`caption_tokens`): NFKC, case-folded; every CJK ideograph is one token (Chinese has no
  spaces; character-level scoring is the common choice for Chinese captions), other runs of letters and
  digits are words; punctuation is dropped.
* **BLEU-n** (Papineni et al. 2002), corpus level: n-gram precisions clipped by the largest count in any
  one reference, pooled over all captions; brevity penalty ``exp(1 - r / c)`` when the total candidate
  length ``c`` is below ``r``, the sum of the reference lengths closest to each candidate (ties: the
  shorter); BLEU-n is the geometric mean of the precisions 1..n times the penalty (0 when one is 0).
* **ROUGE-L** (Lin 2004) per caption: ``P = LCS / len(candidate)`` and ``R = LCS / len(reference)``, each
  maximised over the references, ``F = (1 + b^2) P R / (R + b^2 P)`` with ``b = 1.2``; mean over captions.
* **CIDEr-D** (Vedantam et al. 2015): per n = 1..4, tf-idf vectors of n-gram counts, with document
  frequencies counted over the references of the evaluated set (an image counts once per n-gram) and
  ``idf = log(#images) - log(max(1, df))``; the similarity to each reference is
  ``sum min(g_c, g_r) g_r / (|g_c| |g_r|)`` (clipped candidate counts) times the length penalty
  ``exp(-(len_c - len_r)^2 / (2 * 6^2))``, averaged over references and over n, times 10; mean over
  images. Term frequencies are raw counts, as the toolkit computes them.

Example::

    >>> scores = caption_scores(["a red heart"], [["red heart", "a red heart"]])
    >>> round(scores["BLEU-1"], 3), round(scores["ROUGE-L"], 3)
    (1.0, 1.0)
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_HAN}]|(?:(?![{_HAN}])[^\W_])+")

#: The keys of :func:`caption_scores`.
CAPTION_METRICS: tuple[str, ...] = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D")

Tokens = Sequence[str]


def caption_tokens(text: str) -> list[str]:
    """Scoring tokens of a caption (module docstring).

    >>> caption_tokens("Face with Tears-of-Joy!"), caption_tokens("笑哭了 ok")
    (['face', 'with', 'tears', 'of', 'joy'], ['笑', '哭', '了', 'ok'])
    """
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def _ngrams(tokens: Tokens, n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]], max_n: int = 4) -> list[float]:
    """Corpus BLEU-1 .. BLEU-``max_n`` of tokenised candidates against their references."""
    _check(candidates, references)
    clipped, total = [0] * max_n, [0] * max_n
    cand_len = ref_len = 0
    for cand, refs in zip(candidates, references, strict=True):
        cand_len += len(cand)
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(cand, n)
            most: Counter[tuple[str, ...]] = Counter()
            for ref in refs:
                most |= _ngrams(ref, n)  # element-wise max over references
            clipped[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            total[n - 1] += max(len(cand) - n + 1, 0)
    if cand_len == 0:
        return [0.0] * max_n
    penalty = 1.0 if cand_len > ref_len else math.exp(1 - ref_len / cand_len)
    out, log_sum = [], 0.0
    for n in range(max_n):
        if clipped[n] == 0 or total[n] == 0:
            out.extend([0.0] * (max_n - n))
            break
        log_sum += math.log(clipped[n] / total[n])
        out.append(penalty * math.exp(log_sum / (n + 1)))
    return out


def _lcs(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence (dynamic programming, one row)."""
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag = 0
        for j, y in enumerate(b, start=1):
            keep = row[j]
            row[j] = prev_diag + 1 if x == y else max(row[j], row[j - 1])
            prev_diag = keep
    return row[-1]


def rouge_l(candidate: Tokens, references: Sequence[Tokens], beta: float = 1.2) -> float:
    """ROUGE-L F of one candidate against its references (module docstring)."""
    if not candidate or not references:
        return 0.0
    precision = recall = 0.0
    for ref in references:
        lcs = _lcs(candidate, ref)
        precision = max(precision, lcs / len(candidate))
        recall = max(recall, lcs / len(ref) if ref else 0.0)
    if precision == 0 or recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


def cider_d(
    candidates: Sequence[Tokens],
    references: Sequence[Sequence[Tokens]],
    *,
    max_n: int = 4,
    sigma: float = 6.0,
) -> tuple[float, list[float]]:
    """CIDEr-D of the corpus and of each candidate (module docstring)."""
    _check(candidates, references)
    doc_freq: Counter[tuple[str, ...]] = Counter()
    for refs in references:
        doc_freq.update({g for ref in refs for n in range(1, max_n + 1) for g in _ngrams(ref, n)})
    log_images = math.log(float(len(references))) if references else 0.0

    def vectors(tokens: Tokens) -> tuple[list[dict[tuple[str, ...], float]], list[float]]:
        vecs, norms = [], []
        for n in range(1, max_n + 1):
            vec = {
                g: c * (log_images - math.log(max(1.0, doc_freq[g]))) for g, c in _ngrams(tokens, n).items()
            }
            vecs.append(vec)
            norms.append(math.sqrt(sum(v * v for v in vec.values())))
        return vecs, norms

    per_image = []
    for cand, refs in zip(candidates, references, strict=True):
        c_vecs, c_norms = vectors(cand)
        total = 0.0
        for ref in refs:
            r_vecs, r_norms = vectors(ref)
            penalty = math.exp(-((len(cand) - len(ref)) ** 2) / (2 * sigma**2))
            for n in range(max_n):
                if c_norms[n] == 0 or r_norms[n] == 0:
                    continue
                dot = sum(min(v, r_vecs[n].get(g, 0.0)) * r_vecs[n].get(g, 0.0) for g, v in c_vecs[n].items())
                total += penalty * dot / (c_norms[n] * r_norms[n])
        per_image.append(10.0 * total / (max_n * len(refs)) if refs else 0.0)
    mean = sum(per_image) / len(per_image) if per_image else 0.0
    return mean, per_image


def caption_scores(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """:data:`CAPTION_METRICS` of raw candidate captions against raw references (one list per candidate).

    Candidates whose references are all empty are left out; ``n`` in the result counts the rest.
    """
    pairs: list[tuple[list[str], list[list[str]]]] = []
    for cand, raw in zip(candidates, references, strict=True):
        tokenised = [t for t in (caption_tokens(r) for r in raw) if t]
        if tokenised:
            pairs.append((caption_tokens(cand), tokenised))
    cands = [c for c, _ in pairs]
    refs = [r for _, r in pairs]
    if not pairs:
        return {**dict.fromkeys(CAPTION_METRICS, 0.0), "n": 0.0}
    b = bleu(cands, refs)
    out = {f"BLEU-{i + 1}": v for i, v in enumerate(b)}
    out["ROUGE-L"] = sum(rouge_l(c, r) for c, r in pairs) / len(pairs)
    out["CIDEr-D"] = cider_d(cands, refs)[0]
    out["n"] = float(len(pairs))
    return out


def _check(candidates: Sequence[object], references: Sequence[object]) -> None:
    if len(candidates) != len(references):
        raise ValueError(f"got {len(candidates)} candidates but {len(references)} reference lists")
