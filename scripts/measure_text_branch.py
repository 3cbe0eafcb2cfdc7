"""Which definition of the text branch ranks better: one passage per item, or the best of several texts?

Until the seams issue, evaluation scored an item's text as the best cosine over its texts (each caption, and
the OCR text) while the index embedded one joined passage. This script measures three definitions on the
same items and queries, from an index built with OCR on and no oracle captions (what a plain folder gives):

* ``passage``  — captions then OCR lines joined by newlines, embedded once (what the index serves);
* ``max-texts`` — best cosine over each caption and the OCR text as one string (evaluation before);
* ``max-lines`` — best cosine over each caption and each OCR line on its own.

Rows are reported for the realistic condition (no captions) and, beside it only, for oracle captions (each
emoji's CLDR names in en + zh — a named sticker pack), which is where the definitions differ most. SPEC §5
metrics over the split's whole gallery; items with no text get no text score and rank last.

    memesearch datasets build emoji --out data/emoji
    memesearch index data/emoji --splits val --index build/val-ocr
    python scripts/measure_text_branch.py --data data/emoji --index build/val-ocr --split val
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from memesearch.data.formats import read_dataset
from memesearch.data.records import context_texts
from memesearch.eval.compare import floor_missing
from memesearch.eval.retrieval import evaluate_scores
from memesearch.index import Index

DEFINITIONS = ("passage", "max-texts", "max-lines")


def text_scores(qv: np.ndarray, texts: list[list[str]], encoder: object, how: str) -> np.ndarray:
    """(Q, N) text-branch scores; NaN for items without text."""
    owners: list[int] = []
    flat: list[str] = []
    for j, t in enumerate(texts):
        for s in t:
            owners.append(j)
            flat.append(s)
    out = np.full((qv.shape[0], len(texts)), np.nan)
    if not flat:
        return out
    tv = encoder.encode_text(flat, kind="passage", batch_size=256)  # type: ignore[attr-defined]
    sims = qv @ tv.T  # (Q, T)
    for k, j in enumerate(owners):
        col = sims[:, k]
        out[:, j] = np.where(np.isnan(out[:, j]), col, np.maximum(out[:, j], col))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/emoji"))
    ap.add_argument("--index", type=Path, default=Path("build/val-ocr"))
    ap.add_argument("--split", default="val")
    args = ap.parse_args()
    ds = read_dataset(args.data)
    split = ds[args.split]
    with Index.open(args.index, readonly=True) as idx:
        indexed = idx.items(idx.rowids_where())
        by_path = {p: it for it in indexed.values() for p in it.paths}
        enc = idx.encoder
        gallery, ocr_lines = [], []
        for item in split.items:
            path = os.path.normpath(os.path.abspath(str(item.resolve_path(ds.root))))
            found = by_path.get(path)
            if found is None:
                raise SystemExit(f"{path} is not in {args.index}: index the {args.split} split first")
            gallery.append(item)
            ocr_lines.append([line.text for line in found.ocr or [] if line.text.strip()])
        queries = split.queries
        qv = enc.encode_text([q.text for q in queries], kind="query", batch_size=256)
        qids = [q.id for q in queries]
        item_ids = [it.id for it in gallery]
        qrels = split.qrels()
        print(
            f"{args.split}: {len(queries)} queries, {len(gallery)} items, "
            f"{sum(bool(o) for o in ocr_lines)} with OCR text (score >= {idx.config.ocr_min_score})"
        )
        print("| condition | definition | items with text | R@1 | R@5 | R@10 | MdR | NDCG@10 |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for condition in ("no captions (realistic)", "oracle captions (beside only)"):
            for how in DEFINITIONS:
                texts: list[list[str]] = []
                for item, lines in zip(gallery, ocr_lines, strict=True):
                    caps = item.captions if condition.startswith("oracle") else []
                    if how == "passage":
                        joined = "\n".join(context_texts(caps, lines))
                        texts.append([joined] if joined else [])
                    elif how == "max-texts":
                        texts.append(context_texts(caps, lines))
                    else:
                        texts.append([*context_texts(caps, ()), *lines])
                s = text_scores(qv, texts, enc, how)
                r = evaluate_scores(floor_missing(s), qrels, qids, item_ids, curve=False)
                n_text = sum(bool(t) for t in texts)
                print(
                    f"| {condition} | {how} | {n_text} | {r['R@1']:.4f} | {r['R@5']:.4f} | "
                    f"{r['R@10']:.4f} | {r['MdR']:.0f} | {r['NDCG@10']:.4f} |"
                )


if __name__ == "__main__":
    main()
