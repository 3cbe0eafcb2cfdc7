"""Each search branch against the score matrix it is defined by (search/branches.py docstring)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.models.lexical import LexicalIndex
from memesearch.search import BRANCHES, Branch, Searcher, SearchQuery, build_branches
from memesearch.utils.synthetic import shapes_image

CAPTIONS = ["a sleepy cat", "angry boss shouting", "", "happy birthday party", "", "so tired today"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("branches")
    lines = []
    for i, cap in enumerate(CAPTIONS):
        p = root / "m" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        shapes_image(300 + i, (64, 64)).save(p)
        lines.append(json.dumps({"path": str(p), "captions": [cap] if cap else []}))
    (root / "list.jsonl").write_text("\n".join(lines) + "\n")
    idx = Index.create(root / "idx", encoder=create_encoder("tiny-clip:0"), ocr=False, emotions=False)
    add_paths(idx, [root / "list.jsonl"], workers=0)
    yield idx
    idx.close()


def queries(idx: Index, texts: list[str]) -> list[SearchQuery]:
    vecs = idx.encoder.encode_text(texts, kind="query")
    return [SearchQuery(t, v) for t, v in zip(texts, vecs, strict=True)]


def test_branch_list_is_the_one_vocabulary(index: Index) -> None:
    branches = build_branches(index)
    assert tuple(branches) == BRANCHES == ("image", "text", "lexical", "emotion", "objects")
    assert all(isinstance(b, Branch) and b.name == n for n, b in branches.items())
    assert [n for n, b in branches.items() if b.image_queries] == ["image", "objects"]


def test_each_branch_equals_its_definition(index: Index) -> None:
    rows = index.rowids_where()
    items = index.items(rows)
    qs = queries(index, ["so sleepy", "birthday"])
    qv = np.stack([q.vector for q in qs])
    branches = build_branches(index)
    # image: query . item embedding
    img = branches["image"].score(qs, rows)
    assert np.allclose(img, qv @ index.vector_store("image").reconstruct(rows).T, atol=1e-5)
    # text: query . passage embedding of (captions, then OCR) joined by newlines; NaN without text
    passages = [items[int(r)].passage for r in rows]
    txt = branches["text"].score(qs, rows)
    has = np.array([bool(p) for p in passages])
    assert has.sum() == 4 and np.isnan(txt[:, ~has]).all()
    pv = index.encoder.encode_text([p for p in passages if p], kind="passage")
    assert np.allclose(txt[:, has], qv @ pv.T, atol=1e-5)
    # lexical: calibrated BM25 over the same passages
    lex = LexicalIndex()
    lex.build([str(r) for r, p in zip(rows, passages, strict=True) if p], [p for p in passages if p])
    got = branches["lexical"].score(qs, rows)
    assert np.isnan(got[:, ~has]).all()
    for i, q in enumerate(qs):
        assert np.allclose(got[i, has], lex.score_one(q.text), atol=1e-6)


def test_candidates_are_the_top_of_the_scores(index: Index) -> None:
    rows = index.rowids_where()
    branches = build_branches(index)
    (q,) = queries(index, ["angry boss"])
    for name in ("image", "text"):
        s = branches[name].score([q], rows)[0]
        order = rows[np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")]
        n = int((~np.isnan(s)).sum())
        assert branches[name].candidates(q, 3).tolist() == order[:3].tolist()
        assert len(branches[name].candidates(q, 50)) == n
    assert branches["lexical"].candidates(q, 5).tolist()[0] == index.rowid_of(
        next(it.id for it in index.items(rows).values() if it.captions == ["angry boss shouting"])
    )
    img_q = SearchQuery(None, q.vector)
    assert branches["lexical"].candidates(img_q, 5).size == 0


def test_searcher_scores_are_the_branch_scores(index: Index) -> None:
    s = Searcher(index)
    resp = s.search("so tired", k=6, explain=True)
    rows = np.array([index.rowid_of(h.id) for h in resp.hits])
    (q,) = queries(index, ["so tired"])
    for name, branch in s.branches.items():
        expect = branch.score([q], rows)[0]
        got = np.array([h.scores.get(name, np.nan) for h in resp.hits])
        assert np.allclose(got, expect, atol=1e-6, equal_nan=True)
    assert resp.to_dict()["branches"] == list(BRANCHES)
    rowids, matrix = s.score_matrix(["so tired"])
    col = {int(r): j for j, r in enumerate(rowids)}
    assert np.allclose(
        [matrix["fused"][0, col[int(r)]] for r in rows], [h.score for h in resp.hits], atol=1e-5
    )
