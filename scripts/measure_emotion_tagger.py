"""Zero-shot quality of :class:`memesearch.enrich.emotion.EmotionTagger` on the emoji benchmark.

    python scripts/measure_emotion_tagger.py [--dataset data/emoji] [--out docs/results]

Gold: the items' ``emotions`` (emoji outside "Smileys & Emotion" have none, so a tag on them is a false
tag). Two inputs are tagged:

- images: ``create_encoder("starter").encode_image`` (the image tower alone — the QI emotion gate would
  feed the gold emotions in);
- texts: each item's oracle captions (its English and its Chinese CLDR name) through ``e5-small``, as a
  stand-in for OCR text.

Numbers: ``top1`` (share of items with gold emotions whose best emotion is gold), ``recall@2`` (share of
gold (item, emotion) pairs among the items' 2 best emotions) and, per ``min_score``, micro precision /
recall / F1 of the kept tags (top 2, probability >= min_score) over all items plus ``false_tag_rate``
(share of items without gold emotions that get a tag).

Choices, never on test: the prompt kind (e5 ``query:``/``passage:`` prefix) by image top-1 on ``train``;
the temperature and the text threshold by the best text F1 on ``val`` among settings whose false-tag rate
is <= 5 %; the image threshold the same way on ``val`` images — ``None`` (image tags off by default) when
no threshold gives a single correct image tag on ``val``. ``test`` and ``test-seen`` are then
reported once at the chosen setting. Writes ``<out>/emotion_tagger.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURES = (0.02, 0.05, 0.1)
MIN_SCORES = (
    0.02,
    0.03,
    0.04,
    0.05,
    0.06,
    0.08,
    0.1,
    0.12,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
)
MAX_FALSE_TAG_RATE = 0.05
TOP_K = 2


def softmax(cosine: np.ndarray, temperature: float) -> np.ndarray:
    logits = cosine.astype(np.float64) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def scores_for(probs: np.ndarray, gold: list[list[str]], emotions: tuple[str, ...]) -> dict[str, Any]:
    """Ranking and tagging numbers of probabilities ``(N, E)`` against gold emotion lists."""
    order = np.argsort(-probs, axis=1, kind="stable")
    with_gold = [i for i, g in enumerate(gold) if g]
    pairs = sum(len(gold[i]) for i in with_gold)
    hits_k = sum(sum(emotions[j] in gold[i] for j in order[i, :TOP_K]) for i in with_gold)
    n_without = len(gold) - len(with_gold)
    out: dict[str, Any] = {
        "n_items": len(gold),
        "n_with_gold": len(with_gold),
        "top1": float(np.mean([emotions[order[i, 0]] in gold[i] for i in with_gold])),
        f"recall@{TOP_K}": hits_k / pairs,
        "thresholds": {},
    }
    for min_score in MIN_SCORES:
        tp = fp = tagged_without_gold = 0
        for i, g in enumerate(gold):
            kept = [emotions[j] for j in order[i, :TOP_K] if probs[i, j] >= min_score]
            tp += sum(e in g for e in kept)
            fp += sum(e not in g for e in kept)
            tagged_without_gold += bool(kept) and not g
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / pairs
        out["thresholds"][f"{min_score:g}"] = {
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "false_tag_rate": tagged_without_gold / n_without if n_without else 0.0,
        }
    return out


def choose(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The threshold with the best F1 among those with false-tag rate <= MAX_FALSE_TAG_RATE (ties: the
    lower false-tag rate, then the lower threshold)."""
    allowed = [(k, r) for k, r in results["thresholds"].items() if r["false_tag_rate"] <= MAX_FALSE_TAG_RATE]
    return max(allowed, key=lambda kr: (round(kr[1]["f1"], 6), -kr[1]["false_tag_rate"], -float(kr[0])))


def line(name: str, res: dict[str, Any], threshold: str | None = None) -> str:
    text = f"{name:38s} n={res['n_with_gold']:3d}/{res['n_items']:4d} top1={res['top1']:.3f} "
    text += f"recall@{TOP_K}={res[f'recall@{TOP_K}']:.3f}"
    if threshold is not None:
        r = res["thresholds"][threshold]
        text += (
            f"  min_score={threshold}: P={r['precision']:.3f} R={r['recall']:.3f} F1={r['f1']:.3f} "
            f"false_tag_rate={r['false_tag_rate']:.3f}"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--model", default="starter", help="the starter version whose tower reads the images")
    args = parser.parse_args(argv)

    from memesearch.data.formats import read_dataset
    from memesearch.enrich.emotion import EmotionTagger
    from memesearch.models import create_encoder

    if not (args.dataset / "dataset.json").exists():
        print(
            f"no dataset at {args.dataset}; build it with 'memesearch datasets build emoji'", file=sys.stderr
        )
        return 2
    ds = read_dataset(args.dataset)
    starter = create_encoder(args.model, device="cpu")
    taggers = {kind: EmotionTagger(starter, prompt_kind=kind) for kind in ("query", "passage")}
    emotions = taggers["passage"].emotions

    def cosine(vectors: np.ndarray, kind: str) -> np.ndarray:
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit @ taggers[kind].emotion_vectors.T  # (N, E)

    images: dict[str, np.ndarray] = {}
    gold: dict[str, list[list[str]]] = {}
    for split in ("train", "val", "test", "test-seen"):
        part = ds[split]
        images[split] = starter.encode_image([it.resolve_path(ds.root) for it in part.items])  # (N, 384)
        gold[split] = [list(it.emotions) for it in part.items]
    flag = "" if args.model == "starter" else f" --model {args.model}"
    out: dict[str, Any] = {"command": f"python scripts/measure_emotion_tagger.py{flag}", "top_k": TOP_K}

    # 1. prompt kind, by image top-1 on train
    train_top1 = {
        kind: scores_for(softmax(cosine(images["train"], kind), 0.05), gold["train"], emotions)["top1"]
        for kind in taggers
    }
    prompt_kind = max(train_top1, key=lambda k: train_top1[k])
    out["train_image_top1_by_prompt_kind"] = train_top1
    print(f"prompt kind by image top-1 on train: {train_top1} -> {prompt_kind}")

    # 2. texts: captions (en, zh) of val and test items, embedded as passages (like OCR text)
    texts: dict[str, tuple[np.ndarray, list[list[str]]]] = {}
    for split in ("val", "test"):
        part = ds[split]
        for lang, index in (("en", 0), ("zh", 1)):
            rows = [i for i, it in enumerate(part.items) if len(it.captions) > index]
            vectors = starter.encode_text([part.items[i].captions[index] for i in rows], kind="passage")
            texts[f"{split}/{lang}"] = (vectors, [gold[split][i] for i in rows])

    def text_scores(split: str, temperature: float) -> dict[str, Any]:
        vec = np.concatenate([texts[f"{split}/en"][0], texts[f"{split}/zh"][0]])
        labels = texts[f"{split}/en"][1] + texts[f"{split}/zh"][1]
        return scores_for(softmax(cosine(vec, prompt_kind), temperature), labels, emotions)

    out["val"] = {"texts": {}, "images": {}}
    best: tuple[float, float, str] | None = None
    for temperature in TEMPERATURES:
        res = text_scores("val", temperature)
        out["val"]["texts"][f"T={temperature:g}"] = res
        threshold, row = choose(res)
        print(line(f"val texts T={temperature:g}", res, threshold))
        if best is None or row["f1"] > best[0]:
            best = (row["f1"], temperature, threshold)
    assert best is not None
    _, temperature, text_threshold = best
    for t in TEMPERATURES:
        res = scores_for(softmax(cosine(images["val"], prompt_kind), t), gold["val"], emotions)
        out["val"]["images"][f"T={t:g}"] = res
        print(line(f"val images T={t:g}", res, choose(res)[0]))
    image_threshold, image_row = choose(out["val"]["images"][f"T={temperature:g}"])
    chosen = {
        "prompt_kind": prompt_kind,
        "temperature": temperature,
        "min_score_text": float(text_threshold),
        # no threshold with a single correct tag on val: image tags stay off by default (None)
        "min_score_image": float(image_threshold) if image_row["f1"] > 0 else None,
    }
    out["chosen"] = chosen
    print(f"chosen (train/val only): {chosen}")

    # 3. reported once at the chosen setting
    report: dict[str, Any] = {}
    for split in ("train", "val", "test", "test-seen"):
        res = scores_for(softmax(cosine(images[split], prompt_kind), temperature), gold[split], emotions)
        report[f"images/{split}"] = res
        print(line(f"images {split}", res, image_threshold))  # the best allowed val threshold, even if off
    for split in ("val", "test"):
        for lang in ("en", "zh"):
            vec, labels = texts[f"{split}/{lang}"]
            res = scores_for(softmax(cosine(vec, prompt_kind), temperature), labels, emotions)
            report[f"texts/{split}/{lang}"] = res
            print(line(f"texts {split} {lang}", res, text_threshold))
    out["at_chosen"] = report
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "emotion_tagger.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
