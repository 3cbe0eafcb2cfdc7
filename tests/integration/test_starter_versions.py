"""Committed starter versions: ``starter-v1``, ``starter-v2`` and ``starter-v3`` load by name (``starter`` is
the newest), and an index keeps the version it was built with — an index whose ``index.json`` records
``starter`` and one version's weights SHA-256 opens and searches with those weights, whichever version is
the default today."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.index import EncoderMismatchError, Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.models.starter.encoder import (
    COMMITTED_WEIGHTS,
    MODEL_FILE,
    committed_weights,
    load_starter,
    weights_dir,
)
from memesearch.search import Searcher
from memesearch.utils.io import sha256_file

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 210, 20)}


def _folder(root: Path) -> Path:
    """Four text-less drawings (a coloured disc each) in a plain folder."""
    root.mkdir(parents=True)
    for name, rgb in COLOURS.items():
        img = Image.new("RGB", (64, 64), (255, 255, 255))
        ImageDraw.Draw(img).ellipse((8, 8, 56, 56), fill=rgb)
        img.save(root / f"{name}.png")
    return root


VERSIONS = sorted(n for n in COMMITTED_WEIGHTS if n != "starter")


def _sha(version: str) -> str:
    return sha256_file(weights_dir(version) / MODEL_FILE)


def test_versions_load_by_name_and_are_found_by_their_hash() -> None:
    assert set(COMMITTED_WEIGHTS) >= {"starter", "starter-v1", "starter-v2", "starter-v3"}
    assert len({_sha(v) for v in VERSIONS}) == len(VERSIONS)
    for version in VERSIONS:
        enc = create_encoder(version, device="cpu")
        assert enc.name == version
        assert enc.config.extra["weights_sha256"] == _sha(version)
        assert committed_weights(_sha(version)) is not None
        assert sha256_file(committed_weights(_sha(version)) / MODEL_FILE) == _sha(version)  # type: ignore[operator]
    assert committed_weights("0" * 64) is None
    # the default is one of the versions
    assert create_encoder("starter", device="cpu").config.extra["weights_sha256"] in {
        _sha(v) for v in VERSIONS
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_index_built_when_a_version_was_the_default_opens_with_that_version(
    tmp_path: Path, version: str
) -> None:
    """``index.json`` says ``starter`` + this version's SHA-256 (what an index built while this version was
    the default records); reopening it must load this version, not today's default, and search alike."""
    folder = _folder(tmp_path / "stickers")
    built_with = load_starter(
        "starter", weights=weights_dir(version), device="cpu", text_encoders=create_encoder
    )
    idx = Index.create(tmp_path / "idx", encoder=built_with, ocr=False)
    with idx:
        add_paths(idx, [folder], workers=0)
        before = [(h.id, round(h.score, 5)) for h in Searcher(idx).search("red circle", k=4).hits]
        vectors = built_with.encode_image([folder / "red.png"])
    assert idx.info["encoder"]["name"] == "starter"
    assert idx.info["encoder"]["config"]["extra"]["weights_sha256"] == _sha(version)

    with Index.open(tmp_path / "idx", readonly=True) as again:
        assert again.encoder.name == "starter"
        assert again.encoder.config.extra["weights_sha256"] == _sha(version)
        np.testing.assert_allclose(again.encoder.encode_image([folder / "red.png"]), vectors, atol=1e-6)
        after = [(h.id, round(h.score, 5)) for h in Searcher(again).search("red circle", k=4).hits]
    assert len(after) == 4
    assert after == before


def test_index_with_unknown_starter_weights_is_still_refused(tmp_path: Path) -> None:
    """A ``starter`` index whose weights are not committed (a local export) is not silently re-encoded."""
    import shutil

    from safetensors.torch import load_file, save_file

    local = tmp_path / "local-weights"
    shutil.copytree(weights_dir("starter-v1"), local)
    tensors = load_file(local / MODEL_FILE)
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + 0.01  # a locally retrained tower: other weights, another SHA-256
    save_file(tensors, local / MODEL_FILE, metadata={"format": "pt"})
    enc = load_starter("starter", weights=local, device="cpu", text_encoders=create_encoder)
    assert committed_weights(enc.config.extra["weights_sha256"]) is None
    Index.create(tmp_path / "idx", encoder=enc, ocr=False).close()
    with pytest.raises(EncoderMismatchError, match=r"does not ship.*rebuild it"):
        Index.open(tmp_path / "idx")


def test_each_shipped_version_records_its_own_default_calibration(tmp_path: Path) -> None:
    """Every committed starter name has a calibration fitted with its weights
    (index/defaults/calibration-<name>.json); a new index records it, keyed by its encoder signature.
    ``starter`` and the version it is today share one fit (same weights), signed for each name."""
    recorded = {}
    for name in COMMITTED_WEIGHTS:
        with Index.create(tmp_path / f"{name}.idx", model=name) as idx:
            calibration = idx.config.calibration
            assert calibration is not None, f"no default calibration for {name}"
            assert calibration["fitted_on"]["encoder_signature"] == idx.info["encoder"]["signature"]
            recorded[name] = calibration["fusion"]
    today = next(n for n in COMMITTED_WEIGHTS if n != "starter" and weights_dir(n) == weights_dir("starter"))
    assert recorded["starter"] == recorded[today]  # the same weights: the same fit
    others = [n for n in COMMITTED_WEIGHTS if weights_dir(n) != weights_dir("starter")]
    assert others and all(recorded[n] != recorded["starter"] for n in others)  # another tower, its own fit
