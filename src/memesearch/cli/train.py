"""``memesearch train``: train a retrieval model with the generic loop (see :mod:`memesearch.train.cli`).

Wired into the typer app as ``app.command(name="train")(train)``; torch is imported only when it runs.
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

    from memesearch.train import cli as train_cli
    from memesearch.train.config import config_to_dict

    if list_tasks:
        from memesearch.train.task import get_task_spec
        from memesearch.train.task import list_tasks as names

        for name in names():
            typer.echo(f"{name}\t{get_task_spec(name).description}")
        return
    if list_presets:
        typer.echo("\n".join(train_cli.list_presets()))
        return
    if print_config:
        cfg = train_cli.resolve_config(config, overrides or [], preset, resume)
        typer.echo(yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True), nl=False)
        return
    train_cli.setup_logging(quiet)
    result = train_cli.run(config, overrides or [], preset, resume)
    if result.finished:
        typer.echo(f"run directory: {result.run_dir}", err=True)
    else:
        typer.echo(
            f"paused at step {result.step}; continue with: memesearch train --resume {result.run_dir}",
            err=True,
        )
