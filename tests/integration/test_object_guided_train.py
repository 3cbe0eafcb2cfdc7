"""Task ``object-guided`` on a tiny real collages build (npm emoji, committed starter weights, e5-small):
the prepared regions are the truth boxes, a few steps lower the loss, and a ``memesearch train`` run is
served by ``memesearch evaluate --objects --model checkpoint:RUN``. Skips only when npm is absent and the
emoji packages are missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from memesearch.cli.main import main
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version
from memesearch.train.task import create_task

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
]


@pytest.fixture(scope="module")
def collages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js")
    ensure_packages(PACKAGES, cache, progress=False)
    out = tmp_path_factory.mktemp("collages") / "collages"
    argv = ["datasets", "build", "collages", "--out", str(out), "--seed", "3", "--size", "128"]
    argv += ["--counts", "train=8,val=4,test=0,test-seen=0", "--backgrounds", "plain", "--no-progress"]
    assert main([*argv, "--npm-cache", str(cache), "--workers", "1"]) == 0
    return out


def test_a_few_steps_lower_the_loss_on_real_collages(collages: Path) -> None:
    torch.manual_seed(0)
    task, resolved = create_task("object-guided", {"dataset": str(collages), "max_regions": 6})
    assert resolved["model"]["widths"] == [32, 64, 128, 256]  # read from the committed starter weights
    model = task.build_model()
    data = task.split_data("train")
    ds = task.train_dataset()
    assert len(ds) == 8 and int(data.valid.sum()) >= 16  # 2-6 emoji per collage, every one a region
    assert bool(data.names.any(dim=1).all())  # every name (en, zh) names an emoji of the split
    batch = task.collate([ds[i] for i in range(len(ds))])
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("qi.")], lr=1e-3)
    losses = []
    for _ in range(8):
        task.set_train_mode(model)
        out = task.loss(model, task.embed_batch(model, batch))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] < losses[0]
    metrics = task.validate(model.eval(), torch.device("cpu"))
    assert 0 <= metrics["R@10"] <= 1 and "region_R@10" in metrics


def test_train_run_is_served_by_evaluate_objects(collages: Path, tmp_path: Path) -> None:
    sets = [f"task_config.dataset={collages}", "max_steps=2", "batch_size=4", "epochs=1", "log_every=1"]
    sets += [f"output_dir={tmp_path}", "run_name=og", "task_config.mask_source=box"]
    argv = ["train", "--preset", "object-guided-small"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    run = tmp_path / "og"
    assert (run / "checkpoints" / "best.json").is_file()
    out = tmp_path / "eval"
    argv = ["evaluate", "--objects", "--dataset", str(collages), "--split", "val"]
    assert main([*argv, "--model", f"checkpoint:{run}", "--out", str(out)]) == 0
    report = json.loads((out / "objects.json").read_text())
    assert report["rows"][0]["name"] == "full image" and report["counts"]["items"] == 4


def test_a_served_run_embeds_regions_through_its_alpha_input(collages: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder
    from memesearch.models.regions import region_embeddings

    sets = [f"task_config.dataset={collages}", "max_steps=1", "batch_size=4", "epochs=1"]
    sets += [f"output_dir={tmp_path}", "run_name=og", "task_config.mask_source=box"]
    argv = ["train", "--preset", "object-guided-small"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    encoder: Any = create_encoder(f"checkpoint:{tmp_path / 'og'}", device="cpu")
    assert encoder.region_alpha and encoder.config.extra["region_alpha"]
    item = read_dataset(collages)["val"].items[0]
    image = Image.open(item.resolve_path(collages)).convert("RGB")
    boxes = [o.box for o in item.objects]
    before = region_embeddings(encoder, image, boxes, None, method="masked-crop")
    direct = encoder.encode_regions(image, boxes, [None] * len(boxes), masked=True)
    assert np.allclose(before, direct / np.linalg.norm(direct, axis=1, keepdims=True), atol=1e-6)
    whole = encoder.encode_image([image])
    with torch.no_grad():
        encoder.model.alpha.weight.add_(0.05)
    assert not np.allclose(region_embeddings(encoder, image, boxes, None, method="masked-crop"), before)
    assert np.allclose(encoder.encode_image([image]), whole)  # whole images: the plain tower
