"""Probe: a trained projection from a frozen tfjs backbone into e5 space — is it a better image tower?

The frozen centernet backbone (MobileNetV3, COCO) reads every image of the emoji build once (pooled
stride-16 and stride-32 maps, mean and max: a fixed feature vector); a projection (linear or a one-hidden-
layer MLP) is trained with symmetric InfoNCE against the e5-small vectors of the train split's queries (the
benchmark's names and keywords, as the starter Task pairs them); the epoch is chosen on ``--select-view``
(a validation view), then every view is reported (R@1 / R@10 over the view's gallery, e5 queries). The
same numbers for the committed ``starter`` image tower (no emotion gate) are printed beside it, and the
two tower's vectors concatenated (each L2-normalised) as a third row.

Other backbones: ``--taps`` names the maps to pool; ``--layout nchw --pixels bgr-meanstd`` feeds an
ONNX-converted NanoDet graph what NanoDet was trained on (BGR, ``(x - mean) / std`` with its config's
mean 103.53, 116.28, 123.675 and std 57.375, 57.12, 58.395; the graph itself has no normalisation ops).

No augmentation (features are computed once), no fine-tuning of the backbone: a lower bound for what
the backbone can give, in minutes on 2 cores.

    PYTHONPATH=src python bench/probe_tfjs_projection.py /path/to/centernet.json \\
        --train data/emoji-v2 --eval data/emoji-vh --views val,val-heldout,test \\
        --out docs/results/tfjs_projection_probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from memesearch.data.formats import read_dataset
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models import create_encoder
from memesearch.models.starter.text_cache import TextEmbeddingCache
from memesearch.models.tfjs_graph import load_tfjs_graph

TAPS = ("tower_0/MobilenetV3/expanded_conv_11/add", "tower_0/extern1/hard_swish/mul_1")
# NanoDet's training normalisation (BGR order), from its configs
BGR_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
BGR_STD = np.array([57.375, 57.12, 58.395], np.float32)


def rgb(path: Path, size: int) -> np.ndarray:
    img = Image.open(path).convert("RGBA")
    canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
    canvas.alpha_composite(img)
    return np.asarray(canvas.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


def pixels(path: Path, size: int, layout: str, kind: str) -> np.ndarray:
    """One image as the backbone's input: RGB 0..255, or BGR mean/std-normalised; HWC or CHW."""
    x = rgb(path, size)
    if kind == "bgr-meanstd":
        x = (x[..., ::-1] - BGR_MEAN) / BGR_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1) if layout == "nchw" else x, dtype=np.float32)


@torch.no_grad()
def backbone_features(
    graph: Any,
    paths: list[Path],
    size: int,
    taps: list[str],
    layout: str = "nhwc",
    kind: str = "rgb255",
    batch: int = 32,
) -> np.ndarray:
    out = []
    hw = (2, 3) if layout == "nchw" else (1, 2)
    for start in range(0, len(paths), batch):
        x = torch.from_numpy(np.stack([pixels(p, size, layout, kind) for p in paths[start : start + batch]]))
        maps = graph(x)
        parts = []
        for tap in taps:
            m = maps[tap]  # (B, H, W, C) or (B, C, H, W)
            parts += [m.mean(dim=hw), m.amax(dim=hw)]
        out.append(torch.cat(parts, dim=1).numpy())
    return np.concatenate(out).astype(np.float32)


def view_metrics(items: np.ndarray, queries: np.ndarray, part: Any) -> dict[str, float]:
    report = evaluate_scores(
        queries @ items.T, part.qrels(), [q.id for q in part.queries], part.item_ids(), curve=False
    )
    return {k: round(float(report.metrics[k]), 4) for k in ("R@1", "R@10", "MdR")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_json", type=Path)
    ap.add_argument("--train", type=Path, default=Path("data/emoji-v2"))
    ap.add_argument("--eval", type=Path, default=Path("data/emoji-vh"))
    ap.add_argument("--views", default="val,val-heldout,test")
    ap.add_argument("--select-view", default="val-heldout")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--taps", nargs="+", default=list(TAPS), help="feature map node names to pool")
    ap.add_argument("--layout", choices=("nhwc", "nchw"), default="nhwc", help="the graph's input layout")
    ap.add_argument(
        "--pixels",
        choices=("rgb255", "bgr-meanstd"),
        default="rgb255",
        help="rgb255: RGB 0..255 (centernet); bgr-meanstd: NanoDet's BGR mean/std normalisation",
    )
    ap.add_argument("--hidden", type=int, default=1024, help="0: a linear projection")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.select_view.startswith("test"):
        ap.error("choose on a validation view")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    taps = list(args.taps)
    graph = load_tfjs_graph(args.model_json, outputs=taps).eval()
    cache = TextEmbeddingCache("e5-small")
    train_ds, eval_ds = read_dataset(args.train), read_dataset(args.eval)
    views = [v for v in args.views.split(",") if v]

    t0 = time.perf_counter()
    tr = train_ds["train"]
    tr_paths = [it.resolve_path(train_ds.root) for it in tr.items]
    feats = {"size": args.size, "taps": taps, "layout": args.layout, "kind": args.pixels}
    x_train = backbone_features(graph, tr_paths, **feats)
    ev = {v: eval_ds[v] for v in views}
    x_eval = {
        v: backbone_features(graph, [it.resolve_path(eval_ds.root) for it in p.items], **feats)
        for v, p in ev.items()
    }
    feat_s = time.perf_counter() - t0
    n_images = len(tr_paths) + sum(len(p.items) for p in ev.values())
    print(
        f"features: {n_images} images in {feat_s:.0f} s ({n_images / feat_s:.0f} images/s), "
        f"dim {x_train.shape[1]}"
    )

    index = {it.id: i for i, it in enumerate(tr.items)}
    pairs = [(index[i], q.text) for q in tr.queries for i, g in q.qrels.items() if g > 0 and i in index]
    texts = sorted({t for _, t in pairs})
    tvec = dict(zip(texts, cache.embed(texts, kind="query"), strict=True))
    p_img = torch.tensor([i for i, _ in pairs])
    p_txt = torch.from_numpy(np.stack([tvec[t] for _, t in pairs]))
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.from_numpy((x_train - mu) / sd)
    q_eval = {v: cache.embed([q.text for q in p.queries], kind="query") for v, p in ev.items()}

    dim = p_txt.shape[1]
    proj: nn.Module = (
        nn.Linear(xt.shape[1], dim)
        if args.hidden == 0
        else nn.Sequential(
            nn.Linear(xt.shape[1], args.hidden), nn.GELU(), nn.Dropout(0.2), nn.Linear(args.hidden, dim)
        )
    )
    scale = nn.Parameter(torch.tensor(3.0))
    opt = torch.optim.AdamW([*proj.parameters(), scale], lr=args.lr, weight_decay=0.05)

    def embed(x: np.ndarray) -> np.ndarray:
        proj.eval()
        with torch.no_grad():
            y = proj(torch.from_numpy((x - mu) / sd))
        return nn.functional.normalize(y, dim=1).numpy()

    best: tuple[float, int, dict[str, Any]] = (-1.0, -1, {})
    best_state: dict[str, torch.Tensor] = {}
    history = []
    for epoch in range(1, args.epochs + 1):
        proj.train()
        order = torch.randperm(len(pairs))
        for start in range(0, len(order), 256):
            b = order[start : start + 256]
            img = nn.functional.normalize(proj(xt[p_img[b]]), dim=1)
            txt = p_txt[b]
            logits = scale.exp() * img @ txt.T
            # the same image or the same text twice in a batch: not a negative
            same = (p_img[b][:, None] == p_img[b][None, :]) | (txt @ txt.T > 0.999)
            logits = logits.masked_fill(same & ~torch.eye(len(b), dtype=torch.bool), float("-inf"))
            target = torch.arange(len(b))
            loss = (
                nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)
            ) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        rows = {v: view_metrics(embed(x_eval[v]), q_eval[v], ev[v]) for v in views}
        history.append({"epoch": epoch, **{v: rows[v]["R@10"] for v in views}})
        if rows[args.select_view]["R@10"] > best[0]:
            best = (rows[args.select_view]["R@10"], epoch, rows)
            best_state = {k: v.detach().clone() for k, v in proj.state_dict().items()}
        print(
            f"epoch {epoch:2d} loss {loss.item():.3f} "
            + " ".join(f"{v} {rows[v]['R@10']:.4f}" for v in views),
            flush=True,
        )

    starter = create_encoder("starter", device="cpu")
    s_vec = {
        v: starter.encode_image([it.resolve_path(eval_ds.root) for it in p.items]) for v, p in ev.items()
    }
    starter_rows = {v: view_metrics(s_vec[v], q_eval[v], ev[v]) for v in views}
    proj.load_state_dict(best_state)  # the epoch chosen on the validation view
    both = {
        v: view_metrics(
            np.concatenate([embed(x_eval[v]), s_vec[v]], axis=1),
            np.concatenate([q_eval[v], q_eval[v]], axis=1) / 2,
            ev[v],
        )
        for v in views
    }
    result = {
        "command": "PYTHONPATH=src python bench/probe_tfjs_projection.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "backbone": str(args.model_json),
        "taps": taps,
        "layout": args.layout,
        "pixels": args.pixels,
        "size": args.size,
        "feature_images_per_s": round(n_images / feat_s, 1),
        "projection": "linear" if args.hidden == 0 else f"mlp hidden {args.hidden}",
        "pairs": len(pairs),
        "selected_on": args.select_view,
        "selected_epoch": best[1],
        "projection_rows": best[2],
        "starter_image_tower": starter_rows,
        "concat_projection_and_starter": both,
        "history": history,
    }
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "selected_epoch",
                    "projection_rows",
                    "starter_image_tower",
                    "concat_projection_and_starter",
                )
            },
            indent=1,
        )
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
