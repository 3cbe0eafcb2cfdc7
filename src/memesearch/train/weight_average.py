"""Weight averaging of starter weights ("model soups"): several fine-tunes of one model -> one model.

Fine-tunes that start from the same weights stay in one basin of the loss, and the average of their
weights is often better than any of them on data unlike the training data (Wortsman et al., "Model
soups", 2022; WiSE-FT interpolates a fine-tune with its starting point the same way). It costs nothing
at search time: the result is one tower of the same size.

:func:`average_weights` writes the weighted average of starter weight folders; :func:`greedy_soup`
chooses which folders to average by a validation split (sort by the split's R@10, add each in turn,
keep it when the average does not get worse). ``scripts/soup_starter_weights.py`` runs both::

    python scripts/soup_starter_weights.py --dataset data/emoji-v2 --greedy \\
        e6=runs/RUN/checkpoints/step-00002244 e7=... probe=... --out /tmp/soup
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from memesearch._version import __version__
from memesearch.errors import ConfigError
from memesearch.models.starter.encoder import (
    CONFIG_FILE,
    MODEL_FILE,
    read_weights_config,
)
from memesearch.utils.io import atomic_path, atomic_write_json, sha256_file

#: ``score(folder) -> number``, higher is better (e.g. R@10 on a validation split)
Scorer = Callable[[Path], float]


def average_weights(
    sources: Sequence[tuple[str | Path, float]],
    out: str | Path,
    *,
    note: str = "",
    labels: Sequence[str] | None = None,
) -> Path:
    """Write the weighted average of starter weight folders (``model.safetensors`` + ``config.json``,
    as written by ``memesearch export``) to ``out``.

    Weights are non-negative and are normalised to sum to one. Every folder must hold the same
    architecture (``config.json``'s ``model``) and the same tensors; floating-point tensors (parameters
    and normalisation statistics) are averaged in float64 and stored as float32, integer ones (batch
    counters) are taken from the first folder. ``config.json`` records the sources (by ``labels`` when
    given, e.g. the checkpoint a temporary export came from, else their paths), their weights, SHA-256 and
    how each was trained. Returns ``out``.
    """
    import torch
    from safetensors.torch import load_file, save_file

    if not sources:
        raise ConfigError("nothing to average: give at least one weights folder")
    weights = [float(w) for _, w in sources]
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"averaging weights must be finite, non-negative and not all zero, got {weights}")
    total = sum(weights)
    weights = [w / total for w in weights]
    folders = [Path(p) for p, _ in sources]
    if labels is not None and len(labels) != len(folders):
        raise ConfigError(f"{len(labels)} labels for {len(folders)} weights folders")
    names = list(labels) if labels is not None else [str(f) for f in folders]
    configs = [read_weights_config(f) for f in folders]
    for folder, config in zip(folders[1:], configs[1:], strict=True):
        if config.get("model") != configs[0].get("model"):
            raise ConfigError(
                f"{folder} holds another architecture than {folders[0]}: only fine-tunes of one model "
                "can be averaged (compare the 'model' blocks of their config.json)"
            )
    states = [load_file(str(f / MODEL_FILE)) for f in folders]
    first = states[0]
    for folder, state in zip(folders[1:], states[1:], strict=True):
        if state.keys() != first.keys():
            extra = sorted(set(state) ^ set(first))[:3]
            raise ConfigError(f"{folder} and {folders[0]} hold different tensors (e.g. {', '.join(extra)})")
        shapes = [k for k in first if state[k].shape != first[k].shape]
        if shapes:
            raise ConfigError(f"{folder} and {folders[0]} differ in the shape of {shapes[0]}")
    averaged: dict[str, Any] = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            acc = torch.zeros(tensor.shape, dtype=torch.float64)
            for w, state in zip(weights, states, strict=True):
                acc += w * state[key].to(torch.float64)
            averaged[key] = acc.to(torch.float32).contiguous()
        else:
            averaged[key] = tensor.clone()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / MODEL_FILE) as tmp:
        save_file(averaged, str(tmp), metadata={"format": "pt", "model": "starter"})
    described = dict(configs[0])
    described["memesearch_version"] = __version__
    described["dtype"] = "float32"
    described["trained_on"] = {
        "weight_average": [
            {
                "source": name,
                "weight": round(w, 6),
                "sha256": sha256_file(folder / MODEL_FILE),
                "trained_on": config.get("trained_on"),
            }
            for name, folder, w, config in zip(names, folders, weights, configs, strict=True)
        ],
        "note": note,
    }
    atomic_write_json(out / CONFIG_FILE, described)
    for name in (MODEL_FILE, CONFIG_FILE):
        (out / name).chmod(0o644)
    return out


def greedy_soup(
    candidates: Sequence[tuple[str, str | Path]],
    out: str | Path,
    score: Scorer,
    *,
    work_dir: str | Path,
    log: Callable[[str], None] = print,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The greedy soup: score every ``(name, folder)`` candidate, sort them best first, start from the
    best and add each next one to a uniform average when the average scores no lower; write the final
    average to ``out``. ``score`` must measure a validation split (never test). Returns the record:
    each candidate's score, each step (added or not, the average's score) and the chosen names.
    ``labels`` (candidate name -> text) say how the written ``config.json`` names each source."""
    if not candidates:
        raise ConfigError("no candidates for a soup")
    names = [n for n, _ in candidates]
    if len(set(names)) != len(names):
        raise ConfigError(f"candidate names must be unique, got {names}")
    folders = {n: Path(f) for n, f in candidates}
    alone = {}
    for name in names:
        alone[name] = float(score(folders[name]))
        log(f"  {name:<20} alone  {alone[name]:.4f}")
    order = sorted(names, key=lambda n: -alone[n])
    chosen = [order[0]]
    best = alone[order[0]]
    steps: list[dict[str, Any]] = [{"add": order[0], "score": best, "kept": True}]
    work = Path(work_dir)
    for i, name in enumerate(order[1:], start=1):
        trial = work / f"soup-trial-{i}"
        average_weights([(folders[n], 1.0) for n in [*chosen, name]], trial)
        value = float(score(trial))
        kept = value >= best
        steps.append({"add": name, "score": value, "kept": kept})
        log(f"  + {name:<18} soup   {value:.4f}  {'kept' if kept else 'dropped'}")
        if kept:
            chosen.append(name)
            best = value
        shutil.rmtree(trial, ignore_errors=True)
    note = (
        "greedy soup (uniform average of the kept candidates; candidates sorted by their validation "
        f"score, each kept when the average scored no lower): {json.dumps(steps)}"
    )
    recorded = [labels.get(n, str(folders[n])) for n in chosen] if labels is not None else None
    average_weights([(folders[n], 1.0) for n in chosen], out, note=note, labels=recorded)
    return {"scores": alone, "steps": steps, "chosen": chosen, "score": best}
