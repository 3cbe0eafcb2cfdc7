"""Two real gloo processes (torchrun) train like one process on the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from memesearch.cli.main import main as cli_main
from memesearch.train.checkpoint import find_checkpoint


def main(argv: list[str]) -> int:
    """``memesearch train ARGV`` through the one command line; returns the exit code."""
    return cli_main(["train", *argv])


# 64 samples / global batch 16 = 4 steps; no dropout (each rank draws its own masks)
CONFIG = """\
task: synthetic
task_config: {num_groups: 16, items_per_group: 4, dropout: 0.0}
epochs: 1
batch_size: 16
log_every: 1
optim: {lr: 5.0e-3, coef_lr: 0.1, warmup_steps: 1}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    return [r["loss"] for r in records if r["kind"] == "train"]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
@pytest.mark.parametrize("ddp_accum", [1, 2], ids=["gather", "gather+gradcache"])
def test_two_gloo_processes_match_one_process(tmp_path: Path, ddp_accum: int) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    assert (
        main(["--config", str(cfg), "--set", f"output_dir={tmp_path}", "--set", "run_name=single", "-q"]) == 0
    )

    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "memesearch.train", "--config", str(cfg), "--set", f"output_dir={tmp_path}",
        "--set", "run_name=ddp", "--set", f"accum_steps={ddp_accum}",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch 16 = 2 ranks" in done.stderr  # both ranks really took part

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert losses(ddp) == pytest.approx(losses(single), abs=1e-5)
    assert len(losses(ddp)) == 4
    a = load_file(str(find_checkpoint(single) / "model.safetensors"))
    b = load_file(str(find_checkpoint(ddp) / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
