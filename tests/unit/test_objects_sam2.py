"""SAM2 through ``sam2:<dir>``: a tiny random Sam2 saved with save_pretrained and loaded offline gives masks
of the image's size for point and box prompts, equal to a direct transformers ``Sam2Model`` call on the
same preprocessed input; automatic mask generation stays bounded; bad sources are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from memesearch.errors import ConfigError  # noqa: E402
from memesearch.objects import SegmenterConfig, create_segmenter  # noqa: E402
from memesearch.objects.sam2 import IMAGENET_MEAN, IMAGENET_STD, Sam2Segmenter  # noqa: E402

S = 128  # the tiny model's square input


def tiny_sam2_config() -> object:
    """A ~0.35M-parameter Sam2: 4 Hiera stages of 1-2 blocks. The global-attention block is the second
    block of stage 3 (index 3): a first-in-stage global block crashes transformers with ZeroDivisionError."""
    backbone = {
        "model_type": "sam2_hiera_det_model",
        "image_size": [S, S],
        "hidden_size": 16,
        "num_attention_heads": 1,
        "blocks_per_stage": [1, 1, 2, 1],
        "embed_dim_per_stage": [16, 32, 64, 128],
        "num_attention_heads_per_stage": [1, 1, 2, 2],
        "window_size_per_stage": [4, 4, 4, 4],
        "global_attention_blocks": [3],
        "window_positional_embedding_background_size": [2, 2],
    }
    return transformers.Sam2Config(
        vision_config={
            "backbone_config": backbone,
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[S // 4, S // 4], [S // 8, S // 8], [S // 16, S // 16]],
            "fpn_hidden_size": 32,
        },
        prompt_encoder_config={
            "hidden_size": 32,
            "image_size": S,
            "patch_size": 16,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": 32,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
    )


@pytest.fixture(scope="module")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = transformers.Sam2Model(tiny_sam2_config()).eval()
    out = tmp_path_factory.mktemp("tiny-sam2")
    model.save_pretrained(out)
    return out


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1, also in the constant huggingface_hub read at import (no network tries)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture()
def seg(sam2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Sam2Segmenter:
    _offline(monkeypatch)
    s = create_segmenter(f"sam2:{sam2_dir}", SegmenterConfig(max_regions=5))
    assert isinstance(s, Sam2Segmenter) and s.name == "sam2" and len(s.version) == 12
    return s


def _image(w: int = 160, h: int = 96) -> Image.Image:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[20:70, 30:90] = (220, 40, 40)
    return Image.fromarray(a)


def _reference(
    seg: Sam2Segmenter, image: Image.Image, **prompts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct transformers call on the same pixel values, then the documented post-processing."""
    with torch.no_grad():
        out = seg.model(pixel_values=seg.preprocess(image), **prompts)
    low, iou = out.pred_masks[0], out.iou_scores[0]  # (N, C, S/4, S/4), (N, C)
    up = torch.nn.functional.interpolate(
        low, (image.height, image.width), mode="bilinear", align_corners=False
    )
    return up > 0, iou


def test_preprocess_is_imagenet_normalised_square_input(seg: Sam2Segmenter) -> None:
    pv = seg.preprocess(Image.new("RGB", (50, 30), (255, 0, 128)))
    assert pv.shape == (1, 3, S, S)
    want = (np.array([255, 0, 128]) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(pv[0, :, 7, 9].numpy(), want, atol=1e-5)
    assert np.allclose(seg.scale_coords(np.array([[80.0, 48.0]]), 160, 96), [[S / 2, S / 2]])


def test_point_prompts_match_direct_model_call(seg: Sam2Segmenter) -> None:
    image = _image()
    points = [(60.0, 45.0), (140.0, 80.0), (10.0, 10.0)]
    regions = seg.segment(image, points=points)
    scaled = torch.tensor([[[[x * S / 160, y * S / 96]] for x, y in points]])
    masks, iou = _reference(
        seg, image, input_points=scaled, input_labels=torch.ones((1, 3, 1), dtype=torch.long)
    )
    assert masks.shape == (3, 3, 96, 160)  # 3 objects x 3 candidates at the image's own size
    best = iou.argmax(dim=1)
    expected = [masks[i, best[i]].numpy() for i in range(3) if masks[i, best[i]].any()]
    assert len(expected) >= 1 and len(regions) == len(expected)
    for region, mask in zip(regions, expected, strict=True):
        got = region.decoded_mask()
        assert got is not None and got.shape == (96, 160)
        assert (got == mask).all()


def test_box_prompts_match_direct_model_call(seg: Sam2Segmenter) -> None:
    image = _image()
    boxes = [(30.0, 20.0, 90.0, 70.0), (0.0, 0.0, 160.0, 96.0)]
    regions = seg.segment(image, boxes=boxes)
    scaled = torch.tensor(
        [[[x0 * S / 160, y0 * S / 96, x1 * S / 160, y1 * S / 96] for x0, y0, x1, y1 in boxes]]
    )
    masks, _ = _reference(seg, image, input_boxes=scaled, multimask_output=False)
    assert masks.shape == (2, 1, 96, 160)
    expected = [m[0].numpy() for m in masks if m[0].any()]
    assert len(expected) >= 1 and len(regions) == len(expected)
    for region, mask in zip(regions, expected, strict=True):
        assert (region.decoded_mask() == mask).all()


def test_automatic_generation_is_bounded(sam2_dir: Path) -> None:
    loose = SegmenterConfig(
        max_regions=4,
        points_per_side=6,
        points_per_batch=10,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        stability_offset=0.0,
        min_area_fraction=0.0,
    )  # fmt: skip  (random weights: logits ~1e-4, so no offset and no thresholds)
    regions = create_segmenter(f"sam2:{sam2_dir}", loose).segment(_image())
    assert 1 <= len(regions) <= 4
    assert all(r.decoded_mask().shape == (96, 160) for r in regions)  # type: ignore[union-attr]
    assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)
    # the default thresholds (predicted IoU >= 0.8) drop every candidate of a random model (IoU ~0.5)
    assert create_segmenter(f"sam2:{sam2_dir}", SegmenterConfig(points_per_side=4)).segment(_image()) == []


def test_bad_sources_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline(monkeypatch)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        create_segmenter(f"sam2:{tmp_path}")
    with pytest.raises(ConfigError, match="cannot load SAM2 model"):
        create_segmenter("sam2:nobody/no-such-sam2-model")


def test_segment_cli_with_sam2(
    sam2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from memesearch.cli.main import main

    _offline(monkeypatch)
    _image().save(tmp_path / "meme.png")
    argv = ["segment", str(tmp_path / "meme.png"), "--model", f"sam2:{sam2_dir}", "--point", "60,45"]
    assert main([*argv, "--box", "30,20,90,70", "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    doc = json.loads((tmp_path / "out" / "meme.regions.json").read_text(encoding="utf-8"))
    assert doc["segmenter"]["name"] == "sam2" and doc["segmenter"]["spec"] == f"sam2:{sam2_dir}"
    assert 1 <= len(doc["regions"]) <= 2
    for row in doc["regions"]:
        with Image.open(tmp_path / "out" / row["mask_png"]) as im:
            assert im.size == (160, 96)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(sam2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline(monkeypatch)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        create_segmenter(f"sam2:{sam2_dir}", device="cuda")


def test_sam2_regions_at_ingest(sam2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``index --objects sam2:<dir>``: the regions enricher runs the tiny Sam2 (loose thresholds: random
    weights) and the index keeps its masks at the image's size, one region vector each."""
    from memesearch.enrich.regions import RegionEnricher
    from memesearch.index import Index
    from memesearch.ingest import Ingestor

    _offline(monkeypatch)
    loose = SegmenterConfig(
        max_regions=3, points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0,
        stability_offset=0.0, min_area_fraction=0.0,
    )  # fmt: skip
    spec = f"sam2:{sam2_dir}"
    enricher = RegionEnricher(spec, max_regions=3, segmenter=create_segmenter(spec, loose))
    assert enricher.version.startswith("sam2:")
    (tmp_path / "in").mkdir()
    _image().save(tmp_path / "in" / "a.png")
    with Index.create(tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False, objects=spec) as idx:
        Ingestor(idx, enrichers=[enricher]).add_paths([tmp_path / "in"], workers=0)
        (item,) = idx.items(idx.all_vectors("image")[0].tolist()).values()
        assert 1 <= len(item.objects) <= 3
        regions = idx.regions([idx.rowid_of(item.id)])  # type: ignore[list-item]
        masks = [r.decoded_mask() for r in next(iter(regions.values()))]
        assert all(m is not None and m.shape == (96, 160) for m in masks)
        assert idx.vector_count("region") == len(item.objects)
        assert idx.config.objects == spec
