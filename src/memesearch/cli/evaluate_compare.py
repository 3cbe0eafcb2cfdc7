"""``memesearch evaluate --compare`` (or ``--checkpoint``): the image, text and lexical branches and their
fusion side by side on a dataset split (:func:`memesearch.eval.compare.compare_branches`), fusion weights
chosen on the validation split; printed as a table and written by
:func:`memesearch.eval.compare.write_compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError


def compare_cli(
    dataset_path: Path,
    split: str,
    val_split: str,
    *,
    checkpoint: Path | None,
    model: str | None,
    text_model: str | None,
    text_checkpoint: Path | None,
    lexical: bool,
    captions: bool,
    by_lang: bool,
    select_metric: str,
    out: Path | None,
    ties: str,
    threshold: int | None,
) -> None:
    """Score the branches of ``dataset_path`` on ``split`` (weights chosen on ``val_split``); print the
    table and write it to ``out``. The image branch is ``checkpoint``'s, else ``model``'s."""
    from rich.console import Console
    from rich.markdown import Markdown

    from memesearch.data.formats import read_dataset
    from memesearch.eval import compare as cmp
    from memesearch.eval.evaluator import resolve_settings
    from memesearch.models import create_encoder

    rule, thr = resolve_settings("native", ties, threshold)
    ds = read_dataset(dataset_path)
    image: cmp.Scorer | None = None
    text: cmp.Scorer | None = None
    inputs: dict[str, Any] = {"dataset": str(dataset_path), "oracle_captions": captions}
    notes: list[str] = []
    if checkpoint is not None:
        from memesearch.train.checkpoint import load_trained_model, recorded_init_from

        found = cmp.run_branches(
            checkpoint,
            ds,
            split,
            load=lambda path: load_trained_model(path)[:2],
            init_from=recorded_init_from,
        )
        image, text = found.scorers.get("image"), found.scorers.get("text")
        for name, source in found.sources.items():
            notes.append(f"{name} branch: {source}")
            inputs[f"{name}_from"] = source
        inputs["checkpoint"] = str(checkpoint)
        if model is not None and image is not None:
            notes.append(f"--model {model} not used: the image branch comes from --checkpoint")
        if text is not None and text_checkpoint is not None:
            notes.append(
                f"--text-checkpoint {text_checkpoint} not used: the text branch comes from --checkpoint"
            )
    if image is None and model is not None:
        image = cmp.image_encoder_scorer(create_encoder(model), captions=captions)
        inputs["image_model"] = model
    if text is None:
        if text_checkpoint is not None:
            from memesearch.train.checkpoint import load_trained_model

            text_task, text_net, _ = load_trained_model(text_checkpoint)
            text = cmp.task_scorer(text_task, text_net)
            inputs["text_checkpoint"] = str(text_checkpoint)
        else:
            if text_model is None:
                text_model = f"checkpoint:{checkpoint}" if checkpoint is not None else "e5-small"
            text = cmp.text_encoder_scorer(create_encoder(text_model), captions=captions)
            inputs["text_model"] = text_model
    if image is None:
        if checkpoint is not None:
            raise ConfigError(
                f"--checkpoint {checkpoint} scores only the text branch and records no init_from (stage-1 "
                "run) to take the image branch from; give it with --model NAME"
            )
        raise ConfigError(
            "--compare needs an image branch: --checkpoint RUN (an image-branch Task) or --model NAME "
            "(an image encoder)"
        )
    branches = cmp.default_branches(image=image, text=text, lexical=lexical, captions=captions)
    result = cmp.compare_branches(
        ds,
        split,
        branches,
        val_split=val_split,
        by_lang=by_lang,
        metric=select_metric,
        ties=rule,
        threshold=thr,
    )
    console = Console()
    sel = result.selection
    weights = ", ".join(f"{k} {v:.2f}" for k, v in sel.weights.items())
    console.print(
        f"fusion weights chosen on {val_split!r} by {sel.metric} = {sel.metric_value:.4f}: {weights}"
    )
    for note in notes:
        console.print(note, highlight=False)
    console.print(Markdown(result.table()))
    for name, why in result.skipped.items():
        console.print(f"branch {name} left out: {why}", highlight=False)
    if out is not None:
        title = f"{ds.name}/{split}: " + ", ".join(branches) + " and fused"
        written = cmp.write_compare(result, out, title=title, extra=inputs)
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
