"""The live BM25 collection the lexical branch follows: after any sequence of additions and removals its
scores equal those of a LexicalIndex (bm25s) built from scratch on the live documents, for both BM25
variants and both calibrations; compaction changes nothing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from memesearch.models.lexical import BM25Config, LexicalIndex
from memesearch.models.lexical_live import LiveLexicon

WORDS = ["happy", "friday", "cat", "加班", "今天", "tired", "so", "meme", "dog", "开心", "sleepy", "🙂"]
QUERIES = ["happy friday", "加班 今天", "so tired cat", "dog dog", "开心", "unknownword"]


def _text(rng: random.Random) -> str | None:
    if rng.random() < 0.15:
        return None
    if rng.random() < 0.05:
        return "!!! ..."  # no index terms
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))


def _reference(docs: dict[int, str | None], config: BM25Config, query: str) -> dict[int, float]:
    keys = sorted(docs)
    ref = LexicalIndex(config).build([str(k) for k in keys], [docs[k] for k in keys], show_progress=False)
    scores = ref.score_one(query)
    return {k: float(s) for k, s in zip(keys, scores, strict=True) if not np.isnan(s)}


@pytest.mark.parametrize("method", ["lucene", "robertson"])
@pytest.mark.parametrize("calibration", ["ideal", "max"])
def test_live_scores_equal_a_fresh_build_after_adds_and_removes(method: str, calibration: str) -> None:
    rng = random.Random(7)
    config = BM25Config(method=method, calibration=calibration)  # type: ignore[arg-type]
    live = LiveLexicon(config)
    docs: dict[int, str | None] = {}
    next_key = 1
    for _round in range(6):
        new = {next_key + i: _text(rng) for i in range(rng.randint(5, 40))}
        next_key += len(new)
        live.add(list(new), list(new.values()))
        docs.update(new)
        gone = rng.sample(sorted(docs), k=min(len(docs), rng.randint(0, 15)))
        live.remove(gone)
        for k in gone:
            docs.pop(k)
        for query in QUERIES:
            expected = _reference(docs, config, query)
            keys, scores = live.score_docs(query)
            got = dict(zip(keys.tolist(), scores.tolist(), strict=True))
            assert set(got) == set(expected), query  # documents without index terms are not in it
            for k, v in expected.items():
                assert got[k] == pytest.approx(v, abs=1e-6), (query, k)


def test_replacing_and_compacting_keep_the_scores() -> None:
    live = LiveLexicon()
    live.add(list(range(3000)), [f"cat {i % 7} dog" if i % 2 else "happy cat" for i in range(3000)])
    before = dict(zip(*[a.tolist() for a in live.score_docs("happy cat", calibrated=False)], strict=True))
    live.remove(range(1, 3000, 2))  # more dead than live: the postings are compacted
    live.add([0], ["so tired"])  # replaces document 0
    docs = {k: ("so tired" if k == 0 else "happy cat") for k in range(0, 3000, 2)}
    expected = _reference(docs, BM25Config(), "happy cat")
    keys, scores = live.score_docs("happy cat")
    got = dict(zip(keys.tolist(), scores.tolist(), strict=True))
    assert got.keys() == expected.keys() and got[0] == 0.0
    assert all(got[k] == pytest.approx(v, abs=1e-9) for k, v in expected.items())
    raw = dict(zip(*[a.tolist() for a in live.score_docs("happy cat", calibrated=False)], strict=True))
    assert before[2] != pytest.approx(raw[2])  # the collection statistics did change
