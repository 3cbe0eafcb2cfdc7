"""Benchmark: training samples/s of the ``clip4meme-qi`` Task vs a plain CLIP contrastive step.

Both use the same CLIP towers, the same batch and the same optimizer over the same trainable
parameters; the QI step adds the frozen emotion / caption encodings and the QI head. Each mode runs
in its own process (so peak RSS is its own) and the modes alternate over ``--rounds``; the ratio is
QI samples/s ÷ plain samples/s measured in this one run (goal ≥ 0.8). Run by hand::

    .venv/bin/python bench/bench_train_step.py                       # tiny-clip towers, batch 32
    .venv/bin/python bench/bench_train_step.py --arch vit-b-32 --batch 16 --steps 3

``vit-b-32`` is a randomly initialised OpenAI CLIP ViT-B/32 saved to a temporary directory (the real
model's compute; no pretrained weights can be downloaded here). Data: the emoji benchmark's train
split when ``--dataset`` exists, else a small generated dataset.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(args: argparse.Namespace) -> None:
    import torch

    from memesearch.train.losses import contrastive_loss
    from memesearch.train.task import ParamRole, create_task

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    task, _ = create_task("clip4meme-qi", {"dataset": args.dataset, "model_name": args.model_name})
    model = task.build_model()
    for name, p in model.named_parameters():
        if task.param_role(name, p) == ParamRole.FROZEN:
            p.requires_grad_(False)
    task.set_train_mode(model)
    params = [p for p in model.named_parameters() if p[1].requires_grad]
    if args.mode == "plain":  # the plain step trains the towers and the temperature only
        params = [(n, p) for n, p in params if n.startswith("clip.") or n.startswith("logit_scale")]
    opt = torch.optim.AdamW([p for _, p in params], lr=1e-5)
    ds = task.train_dataset()
    batch = task.collate([ds[i % len(ds)] for i in range(args.batch)])
    from memesearch.models.encoders.hf_clip import features

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if args.mode == "qi":
            loss = task.loss(model, task.embed_batch(model, batch)).loss
        else:
            image = features(model.clip.get_image_features(pixel_values=batch["image"]))  # type: ignore[attr-defined]
            query = task.encode_queries(model, batch["query"])  # type: ignore[attr-defined]
            loss = contrastive_loss(
                query,
                torch.nn.functional.normalize(image, dim=-1),
                batch["group"],
                model.logit_scale(),  # type: ignore[operator]
            )
        loss.backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": args.mode, "step_s": statistics.median(times), "peak_rss_mib": peak_mib}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", choices=("tiny", "vit-b-32"), default="tiny")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per round (median is used).")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds of both modes.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dataset", default=str(ROOT / "data" / "emoji"))
    parser.add_argument("--mode", choices=("qi", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        _child(args)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        if not (Path(args.dataset) / "dataset.json").exists():
            from memesearch.train.tasks.toy_dataset import write_toy_dataset

            args.dataset = str(write_toy_dataset(Path(tmp) / "toy"))
        model_name = "tiny-clip:0"
        if args.arch == "vit-b-32":
            from memesearch.models import save_random_clip

            model_name = f"clip:{save_random_clip(Path(tmp) / 'vit-b-32', 'clip-vit-b-32')}"
        results: dict[str, list[dict[str, float]]] = {"qi": [], "plain": []}
        for _ in range(args.rounds):
            for mode in ("plain", "qi"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--mode",
                    mode,
                    "--model-name",
                    model_name,
                    "--dataset",
                    args.dataset,
                ]
                cmd += [
                    "--batch",
                    str(args.batch),
                    "--steps",
                    str(args.steps),
                    "--threads",
                    str(args.threads),
                ]
                out = (
                    subprocess.run(cmd, check=True, capture_output=True, text=True)
                    .stdout.strip()
                    .splitlines()
                )
                results[mode].append(json.loads(out[-1]))
    rows = {}
    for mode, runs in results.items():
        step_s = min(r["step_s"] for r in runs)
        rows[mode] = {"samples_s": args.batch / step_s, "peak": max(r["peak_rss_mib"] for r in runs)}
    ratio = rows["qi"]["samples_s"] / rows["plain"]["samples_s"]
    print(
        f"towers: {model_name.split(':')[0]} ({args.arch}), batch {args.batch}, {args.threads} threads, "
        f"data {Path(args.dataset).name}"
    )
    print("| step | samples/s | peak RSS (MiB) |\n|---|---:|---:|")
    for mode in ("plain", "qi"):
        print(f"| {mode} | {rows[mode]['samples_s']:.1f} | {rows[mode]['peak']:.0f} |")
    print(f"QI / plain samples/s = {ratio:.3f} (goal >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
