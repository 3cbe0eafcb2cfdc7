"""Two gloo ranks (torchrun) train uniclip like one process on the same global batch: the ITC negatives
and the heads' per-sample logits and labels are gathered across ranks, and the OCR candidates depend on
(seed, epoch, index) only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from memesearch.cli.main import main as cli_main
from memesearch.train.checkpoint import find_checkpoint
from memesearch.train.tasks.toy_dataset import write_toy_dataset


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_gloo_ranks_match_one_process(tmp_path: Path) -> None:
    toy = write_toy_dataset(tmp_path / "toy")
    sets = [
        "task_config.model_name=random-clip:clip-tiny@0",  # CLIP towers: no dropout
        f"task_config.dataset={toy}",
        "task_config.head_dropout=0.0",
        "batch_size=6",
        "epochs=2",
        "log_every=1",
        "optim.warmup_steps=1",
        f"output_dir={tmp_path}",
    ]
    args = ["--preset", "uniclip-small", *(x for s in sets for x in ("--set", s))]
    assert cli_main(["train", *args, "--set", "run_name=single", "-q"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "memesearch.train", *args, "--set", "run_name=ddp",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 ranks" in done.stderr
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert len(losses(ddp)) == 4
    assert losses(ddp) == pytest.approx(losses(single), abs=1e-5)
    a = load_file(str(find_checkpoint(single) / "model.safetensors"))
    b = load_file(str(find_checkpoint(ddp) / "model.safetensors"))
    assert a.keys() == b.keys() and any(k.startswith("semantic.") for k in a)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
