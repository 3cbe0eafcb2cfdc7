"""Weight averaging of starter weights: the exact weighted mean, provenance, refusals, and the greedy soup's
choice (sorted by a validation score, each candidate kept only when the average does not get worse)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from memesearch.errors import ConfigError
from memesearch.models import create_encoder
from memesearch.models.starter.config import StarterConfig
from memesearch.models.starter.encoder import MODEL_FILE, WEIGHTS_FORMAT, WEIGHTS_FORMAT_VERSION
from memesearch.models.starter.model import build_model
from memesearch.train.weight_average import average_weights, greedy_soup
from memesearch.utils.io import sha256_file

TINY = StarterConfig(image_size=32, widths=(8, 16), depths=(1, 1), head_hidden=0)


def _folder(root: Path, seed: int, config: StarterConfig = TINY, fill: float | None = None) -> Path:
    """A starter weights folder (model.safetensors + config.json) of a random tiny model; with ``fill``
    every floating-point tensor is that constant."""
    torch.manual_seed(seed)
    state = {k: v.detach().clone().contiguous() for k, v in build_model(config).state_dict().items()}
    if fill is not None:
        state = {k: torch.full_like(v, fill) if v.is_floating_point() else v for k, v in state.items()}
    root.mkdir(parents=True)
    save_file(state, str(root / MODEL_FILE), metadata={"format": "pt"})
    described = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "model": config.to_dict(),
        "trained_on": {"seed": seed},
    }
    (root / "config.json").write_text(json.dumps(described), encoding="utf-8")
    return root


def test_weighted_mean_is_exact_and_recorded(tmp_path: Path) -> None:
    a, b = _folder(tmp_path / "a", 1), _folder(tmp_path / "b", 2)
    out = average_weights([(a, 1.0), (b, 3.0)], tmp_path / "avg", note="probe")
    sa, sb, so = (load_file(str(p / MODEL_FILE)) for p in (a, b, out))
    assert so.keys() == sa.keys()
    floats = [k for k in sa if sa[k].is_floating_point()]
    assert len(floats) > 5 and len(floats) < len(sa)  # parameters + BN statistics; integer counters too
    for key, tensor in so.items():
        if tensor.is_floating_point():
            expected = 0.25 * sa[key].double() + 0.75 * sb[key].double()
            torch.testing.assert_close(tensor.double(), expected, rtol=0, atol=1e-6)
            assert tensor.dtype == torch.float32
        else:
            assert torch.equal(tensor, sa[key])
    described = json.loads((out / "config.json").read_text(encoding="utf-8"))
    sources = described["trained_on"]["weight_average"]
    assert [s["weight"] for s in sources] == [0.25, 0.75]
    assert [s["sha256"] for s in sources] == [sha256_file(a / MODEL_FILE), sha256_file(b / MODEL_FILE)]
    assert [s["trained_on"] for s in sources] == [{"seed": 1}, {"seed": 2}]
    assert described["trained_on"]["note"] == "probe"
    assert described["model"] == TINY.to_dict()
    # the average is a starter weights folder like any other
    enc = create_encoder(f"starter:{out}", device="cpu")
    vec = enc.encode_image([Image.new("RGB", (40, 40), (200, 30, 30))])
    assert vec.shape == (1, 384)
    assert abs(float(np.linalg.norm(vec[0])) - 1.0) < 1e-5


def test_averaging_refuses_what_cannot_be_averaged(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", 1)
    other = _folder(
        tmp_path / "wide", 2, StarterConfig(image_size=32, widths=(8, 24), depths=(1, 1), head_hidden=0)
    )
    with pytest.raises(ConfigError, match="another architecture"):
        average_weights([(a, 1.0), (other, 1.0)], tmp_path / "x")
    with pytest.raises(ConfigError, match="non-negative"):
        average_weights([(a, 1.0), (a, -0.5)], tmp_path / "x")
    with pytest.raises(ConfigError, match="not all zero"):
        average_weights([(a, 0.0)], tmp_path / "x")
    with pytest.raises(ConfigError, match="at least one"):
        average_weights([], tmp_path / "x")
    assert not (tmp_path / "x" / MODEL_FILE).exists()  # nothing half-written


def test_greedy_soup_keeps_candidates_only_while_the_score_does_not_drop(tmp_path: Path) -> None:
    folders = {
        "one": _folder(tmp_path / "one", 1, fill=1.0),
        "zero": _folder(tmp_path / "zero", 2, fill=0.0),
        "five": _folder(tmp_path / "five", 3, fill=5.0),
    }
    probe = next(k for k, v in load_file(str(folders["one"] / MODEL_FILE)).items() if v.is_floating_point())

    def score(folder: Path) -> float:  # best when the tensors are 0.6
        return -abs(float(load_file(str(folder / MODEL_FILE))[probe].mean()) - 0.6)

    logged: list[str] = []
    out = tmp_path / "soup"
    record = greedy_soup(list(folders.items()), out, score, work_dir=tmp_path / "work", log=logged.append)
    # alone: one -0.4 > zero -0.6 > five -4.4; one+zero = 0.5 (-0.1, kept); +five = 2.0 (-1.4, dropped)
    assert [s["add"] for s in record["steps"]] == ["one", "zero", "five"]
    assert [s["kept"] for s in record["steps"]] == [True, True, False]
    assert record["chosen"] == ["one", "zero"]
    assert record["score"] == pytest.approx(-0.1, abs=1e-6)
    assert float(load_file(str(out / MODEL_FILE))[probe].mean()) == pytest.approx(0.5, abs=1e-6)
    assert len(logged) == 5
    described = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert [Path(s["source"]).name for s in described["trained_on"]["weight_average"]] == ["one", "zero"]
    assert "greedy soup" in described["trained_on"]["note"]
    # labels name the sources as the caller knows them (e.g. the checkpoint a temporary export came from)
    labelled = tmp_path / "labelled"
    greedy_soup(
        list(folders.items()), labelled, score, work_dir=tmp_path / "w3", log=logged.append,
        labels={"one": "runs/a/step-1", "zero": "runs/b/step-2"},
    )  # fmt: skip
    sources = json.loads((labelled / "config.json").read_text(encoding="utf-8"))["trained_on"][
        "weight_average"
    ]
    assert [s["source"] for s in sources] == ["runs/a/step-1", "runs/b/step-2"]
    with pytest.raises(ConfigError, match="labels"):
        average_weights([(folders["one"], 1.0)], tmp_path / "x", labels=["a", "b"])
    with pytest.raises(ConfigError, match="unique"):
        greedy_soup([("a", folders["one"]), ("a", folders["zero"])], out, score, work_dir=tmp_path / "w2")
