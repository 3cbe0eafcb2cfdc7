"""UniCLIP end to end on a tiny random Chinese-CLIP: `memesearch train` (loop, accumulation, validation with
the presence accuracy) -> `memesearch export RUN --out DIR` -> `clip:DIR` without heads, the same
embeddings as the trained towers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from memesearch.cli.main import main as cli_main
from memesearch.errors import ConfigError
from memesearch.models import create_encoder, load_image
from memesearch.train.checkpoint import load_trained_model
from memesearch.train.tasks.toy_dataset import write_toy_dataset
from memesearch.train.tasks.uniclip import UniClipTask
from memesearch.train.uniclip_export import export_uniclip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uniclip")
    toy = write_toy_dataset(root / "toy")
    code = cli_main(
        [
            "train",
            "--preset",
            "uniclip-small",
            "--set",
            "task_config.model_name=random-clip:chinese-clip-tiny@1",
            "--set",
            f"task_config.dataset={toy}",
            "--set",
            f"task_config.ann_table={root / 'ocr-hnsw.tsv'}",
            "--set",
            "batch_size=6",
            "--set",
            "accum_steps=2",
            "--set",
            "epochs=2",
            "--set",
            "optim.warmup_steps=1",
            "--set",
            f"output_dir={root / 'runs'}",
            "--set",
            "run_name=tiny",
        ]
    )
    assert code == 0
    assert (root / "ocr-hnsw.tsv").is_file()
    return root / "runs" / "tiny"


def test_training_logs_every_loss_and_validates_presence(run: Path) -> None:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    assert train and val
    logged = json.dumps(train)
    for key in ("itc", "presence", "semantic", "presence_acc", "semantic_acc"):
        assert f'"{key}"' in logged
    assert {"R@10", "presence_acc"} <= set(val[-1]["metrics"])


def test_export_has_no_heads_and_gives_the_trained_embeddings(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert cli_main(["export", str(run), "--out", str(out)]) == 0
    keys = load_file(str(out / "model.safetensors")).keys()
    assert keys and not any(k.startswith(("presence", "semantic", "clip.")) for k in keys)
    info = json.loads((out / "uniclip.json").read_text(encoding="utf-8"))
    assert info["left_out"]["tensors"] > 0 and info["text_max_length"] == 12

    task, model, _ = load_trained_model(run)
    assert isinstance(task, UniClipTask)
    enc = create_encoder(f"clip:{out}", device="cpu")
    assert enc.config.max_length == 12
    texts = ["red circle 搞笑", "a very long text " * 6]
    with torch.no_grad():
        trained_text = task.encode_queries(model, texts).numpy()  # type: ignore[arg-type]
    np.testing.assert_allclose(enc.encode_text(texts), trained_text, atol=1e-5)
    images = sorted((run.parent.parent / "toy" / "images").glob("*.png"))[:3]
    pixels = torch.stack([task.parts().preprocess(load_image(p)) for p in images])
    with torch.no_grad():
        trained_image = model.encode_image(pixels).embedding.numpy()  # type: ignore[operator]
    np.testing.assert_allclose(enc.encode_image([str(p) for p in images]), trained_image, atol=1e-5)

    with pytest.raises(ConfigError, match="already exists"):
        export_uniclip(run, out)
