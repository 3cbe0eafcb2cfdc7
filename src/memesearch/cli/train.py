"""``memesearch train`` (train a retrieval model with the generic loop, :mod:`memesearch.train.run`) and
``memesearch export`` (a ``starter`` run -> a weights directory, :mod:`memesearch.train.starter_export`).

Wired into the typer app as ``app.command(name="train")(train)`` and ``app.command(name="export")(export)``;
torch is imported only when they run.
"""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML or JSON training config (TrainConfig keys; see --print-config)."
    ),
    overrides: list[str] | None = typer.Option(
        None,
        "--set",
        help="Override one config key, dotted and type-checked, e.g. --set optim.lr=1e-4 or "
        "--set task_config.dim=64. Repeatable; wins over --config and --preset.",
    ),
    preset: str | None = typer.Option(
        None, "--preset", help="Start from a shipped preset (lowest precedence); --list-presets shows them."
    ),
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue this run directory from its last checkpoint, with its own config (exact resume).",
    ),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the resolved config as YAML and exit."
    ),
    list_tasks: bool = typer.Option(
        False, "--list-tasks", help="List the registered training Tasks and exit."
    ),
    list_presets: bool = typer.Option(False, "--list-presets", help="List the shipped presets and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors, no progress lines."),
) -> None:
    """Train a model: defaults < --preset < --config < --set; one run directory per run.

    The run directory (output_dir/run_name) holds config.yaml, metrics.jsonl (progress and validation
    metrics), train.log and checkpoints/ (safetensors weights, best.json chosen on the validation split).
    Multi-GPU: torchrun --nproc_per_node N -m memesearch.train --config FILE.yaml.
    """
    import yaml

    from memesearch.train.config import config_to_dict
    from memesearch.train.distributed import ranks_from_env
    from memesearch.train.run import list_presets as preset_names
    from memesearch.train.run import resolve_config, run_training, setup_logging

    if list_tasks:
        from memesearch.train.task import get_task_spec
        from memesearch.train.task import list_tasks as names

        for name in names():
            typer.echo(f"{name}\t{get_task_spec(name).description}")
        return
    if list_presets:
        typer.echo("\n".join(preset_names()))
        return
    if print_config:
        cfg = resolve_config(config, overrides or [], preset, resume)
        typer.echo(yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True), nl=False)
        return
    setup_logging(quiet)
    result = run_training(config, overrides or [], preset, resume)
    if ranks_from_env()[0] != 0:  # under torchrun: one report, from rank 0
        return
    if result.finished:
        typer.echo(f"run directory: {result.run_dir}", err=True)
    else:
        typer.echo(
            f"paused at step {result.step}; continue with: memesearch train --resume {result.run_dir}",
            err=True,
        )


def export(
    run: Path = typer.Argument(..., help="Run directory of a starter, clipcap or uniclip training run."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Weights directory to write [default: the package's committed starter weights, or its "
        "starter-caption folder for a clipcap run].",
    ),
    dataset: Path | None = typer.Option(
        None, "--dataset", help="Evaluate the exported weights on this dataset and write metrics.json."
    ),
    which: str = typer.Option("best", "--which", help="Checkpoint to export: best or last."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Text-embedding cache [default: the run's, else ~/.cache/memesearch]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists (uniclip runs)."),
) -> None:
    """Write a run's checkpoint as a weights directory: a starter run (what create_encoder("starter")
    loads) or a clipcap run (a captioner folder, what `caption --model` loads).

    Starter: model.safetensors and config.json, and with --dataset metrics.json (QI-branch R@k of the
    val, test and test-seen splits measured through the exported weights). Clipcap: captioner.json,
    model.safetensors, tokenizer/, and with --dataset metrics.json (caption metrics per language).
    UniCLIP: the plain dual encoder without its training heads, a Hugging Face folder for clip:OUT;
    a uniclip-starter run: the starter network without the heads, a folder for starter:OUT.
    """
    import logging

    from memesearch.errors import ConfigError
    from memesearch.train.checkpoint import find_checkpoint, read_checkpoint_info
    from memesearch.train.starter_export import export_weights

    if which not in ("best", "last"):
        raise ConfigError(f"--which: got {which!r}, expected 'best' or 'last'")
    logging.getLogger("memesearch").setLevel(logging.INFO)
    task = read_checkpoint_info(find_checkpoint(run, which)).get("task")
    if task == "uniclip":
        from memesearch.train.uniclip_export import export_uniclip

        if out is None:
            raise ConfigError("a uniclip run needs --out DIR (the folder to write for clip:DIR)")
        written = export_uniclip(run, out, which=which, overwrite=overwrite)
        typer.echo(f"dual encoder written to {written} (load it with clip:{written})")
        return
    if task == "uniclip-starter":
        from memesearch.train.uniclip_export import export_uniclip_starter

        if out is None:
            raise ConfigError("a uniclip-starter run needs --out DIR (the folder to write for starter:DIR)")
        written = export_uniclip_starter(run, out, which=which, overwrite=overwrite)
        typer.echo(
            f"starter weights without the OCR heads written to {written} (load them with starter:{written})"
        )
        return
    if task == "clipcap":
        from memesearch.train.caption_export import export_captioner

        written = export_captioner(run, out, dataset=dataset, which=which)
        typer.echo(f"captioner written to {written}")
        return
    written = export_weights(run, out, dataset=dataset, which=which, cache_dir=cache_dir)
    typer.echo(f"starter weights written to {written}")
