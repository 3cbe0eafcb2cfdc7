"""``sam2:<dir or hub id>``: SAM2 through transformers' ``Sam2Model``, pre- and post-processing by hand.

``Sam2Processor``'s image processor needs torchvision, which memesearch never installs, so the steps it
would do are written here (the same ones, checked against the transformers source):

* image: RGB, resized to the model's square input ``S x S`` (``prompt_encoder_config.image_size``,
  1024 for the released checkpoints) with bilinear filtering — the aspect ratio is *not* kept — scaled
  to [0, 1] and normalised with the ImageNet mean and std -> ``pixel_values (1, 3, S, S)``;
* prompts: ``x * S / W``, ``y * S / H`` (boxes corner by corner);
* masks: the decoder's low-resolution logits ``(objects, candidates, S/4, S/4)`` upsampled bilinearly
  (``align_corners=False``) to the image's ``H x W`` and thresholded at 0.

Prompts: every point (a positive click) and every box is its own object. A point asks for 3 candidates
and keeps the one with the highest predicted IoU (one click is ambiguous: part, object or group); a box
asks for one mask (SAM's advice). Without prompts, :meth:`Sam2Segmenter.segment` runs automatic mask
generation: the image is encoded once, a ``points_per_side``-square grid of clicks is decoded in
batches of ``points_per_batch``, candidates are kept when their predicted IoU and their stability score
pass the thresholds of :class:`~memesearch.objects.segmenter.SegmenterConfig`, then box NMS, the area
floor and the ``max_regions`` bound apply; only the kept masks are upsampled to full size. (The
stability score — IoU of the mask thresholded at +offset and at -offset — is computed on the
low-resolution logits, not on upsampled masks as in Meta's generator: same ranking, far less work.)

Example::

    >>> seg = Sam2Segmenter("facebook/sam2.1-hiera-tiny")  # doctest: +SKIP
    >>> seg.segment(image, points=[(120, 80)])[0].box  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.objects.regions import Box, Region, clamp_box, encode_rle, mask_box
from memesearch.objects.segmenter import Point, SegmenterConfig

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_sam2_model(source: str) -> Any:
    """``Sam2Model.from_pretrained(source)`` in eval mode; one-line errors for what usually goes wrong."""
    try:
        from transformers import Sam2Model
    except ImportError as exc:  # pragma: no cover - the models extra is installed in development
        raise ConfigError(
            f"sam2 needs torch and transformers: pip install 'memesearch[models]' ({exc})"
        ) from None
    path = Path(source).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ConfigError(
            f"sam2:{source}: {path} has no config.json; give a folder written by Sam2Model.save_pretrained "
            "or a hub id such as facebook/sam2.1-hiera-tiny"
        )
    try:
        if path.exists():  # a folder never needs the network
            model = Sam2Model.from_pretrained(str(path), local_files_only=True)
        else:
            model = Sam2Model.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot load SAM2 model {source!r}: {first} — give a local folder saved with save_pretrained, "
            "or a hub id already in the Hugging Face cache (with HF_HUB_OFFLINE=1 only the cache is read)"
        ) from None
    if getattr(model.config, "model_type", None) != "sam2":
        raise ConfigError(f"{source!r} is a {model.config.model_type!r} model, not sam2")
    return model.eval()


def model_version(model: Any, source: str) -> str:
    """A short digest of the model's config, weight files (names and sizes) and hub commit."""
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    path = Path(source).expanduser()
    if path.is_dir():
        for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    h.update(str(getattr(model.config, "_commit_hash", "") or "").encode())
    return h.hexdigest()[:12]


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i = int(order.pop(0))
        keep.append(i)
        if not order:
            break
        rest = np.array(order)
        iw = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        ih = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = [int(j) for j, v in zip(rest, iou, strict=True) if v <= threshold]
    return keep


class Sam2Segmenter:
    """SAM2 prompts and automatic mask generation (module docstring); ``name = "sam2"``.

    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``; ``None``: CUDA when present) holds the model and
    runs the encoder and decoder; masks and scores come back to the CPU.
    """

    name = "sam2"

    def __init__(
        self,
        source: str,
        config: SegmenterConfig | None = None,
        *,
        model: Any = None,
        device: str | None = None,
    ) -> None:
        from memesearch.utils.device import resolve_device

        self.source = source
        self.config = config or SegmenterConfig()
        self.device = resolve_device(device)
        self.model = (model if model is not None else load_sam2_model(source)).to(device)
        self.input_size = int(self.model.config.prompt_encoder_config.image_size)
        self.version = model_version(self.model, source)

    # -- pre- and post-processing (what Sam2Processor would do) -------------------------------------
    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """``pixel_values (1, 3, S, S)``: RGB resized to ``S x S`` (bilinear), /255, ImageNet-normalised."""
        import torch
        from PIL import Image as PILImage

        s = self.input_size
        rgb = image.convert("RGB").resize((s, s), PILImage.Resampling.BILINEAR)
        x = np.asarray(rgb, dtype=np.float32) / 255.0
        mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
        x = ((x - mean) / std).astype(np.float32)
        return torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0).to(self.device)

    def scale_coords(self, coords: np.ndarray, width: int, height: int) -> np.ndarray:
        """Pixel ``(..., 2k)`` coordinates ``x, y, [x, y]`` of the image -> the model's ``S x S`` input."""
        out = np.asarray(coords, dtype=np.float32).copy()
        out[..., 0::2] *= self.input_size / width
        out[..., 1::2] *= self.input_size / height
        return out

    @staticmethod
    def upsample(low_res: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """``(N, C, h, w)`` mask logits -> ``(N, C, H, W)`` booleans (bilinear, threshold 0)."""
        import torch.nn.functional as F

        return F.interpolate(low_res.float(), (height, width), mode="bilinear", align_corners=False) > 0.0

    # -- model calls --------------------------------------------------------------------------------
    def image_embeddings(self, image: Image.Image) -> list[torch.Tensor]:
        """The image encoder's feature maps (computed once per image, reused by every prompt)."""
        import torch

        with torch.no_grad():
            return list(self.model.get_image_embeddings(self.preprocess(image)))

    def decode(
        self,
        embeddings: list[torch.Tensor],
        *,
        points: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits ``(N, C, S/4, S/4)`` and predicted IoU ``(N, C)`` for ``N`` one-click objects
        (``points (N, 2)``) or ``N`` boxes (``boxes (N, 4)``), both already in model input coordinates."""
        import torch

        kwargs: dict[str, Any] = {"image_embeddings": embeddings, "multimask_output": multimask}
        if points is not None:
            kwargs["input_points"] = torch.from_numpy(points).reshape(1, -1, 1, 2).to(self.device)
            kwargs["input_labels"] = torch.ones((1, len(points), 1), dtype=torch.long, device=self.device)
        if boxes is not None:
            kwargs["input_boxes"] = torch.from_numpy(boxes).reshape(1, -1, 4).to(self.device)
        with torch.no_grad():
            out = self.model(**kwargs)
        return out.pred_masks[0].float().cpu(), out.iou_scores[0].float().cpu()

    # -- the Segmenter contract ---------------------------------------------------------------------
    def segment(
        self,
        image: Image.Image,
        points: Sequence[Point] | None = None,
        boxes: Sequence[Box] | None = None,
    ) -> list[Region]:
        """One region per point, then one per box (a prompt whose mask is empty gives none); without
        prompts, automatic mask generation bounded by ``config.max_regions``."""
        import torch

        w, h = image.size
        embeddings = self.image_embeddings(image)
        out: list[Region] = []
        if points:
            pts = self.scale_coords(np.array([[float(x), float(y)] for x, y in points], np.float32), w, h)
            logits, iou = self.decode(embeddings, points=pts, multimask=True)
            best = iou.argmax(dim=1)  # (N,) the candidate with the highest predicted IoU
            rows = torch.arange(len(best))
            out += self._regions(logits[rows, best][:, None], iou[rows, best], w, h)
        if boxes:
            kept = [b for b in (clamp_box(b, w, h) for b in boxes) if b is not None]
            if kept:
                bx = self.scale_coords(np.array(kept, np.float32), w, h)
                logits, iou = self.decode(embeddings, boxes=bx, multimask=False)
                out += self._regions(logits[:, :1], iou[:, 0], w, h)
        if points or boxes:
            return out
        return self._generate(embeddings, w, h)

    def _regions(self, logits: torch.Tensor, scores: torch.Tensor, w: int, h: int) -> list[Region]:
        masks = self.upsample(logits, w, h)[:, 0].numpy()  # (N, H, W)
        regions = []
        for mask, score in zip(masks, scores.tolist(), strict=True):
            box = mask_box(mask)
            if box is not None:
                regions.append(Region(box=box, score=float(min(1.0, max(0.0, score))), mask=encode_rle(mask)))
        return regions

    def _generate(self, embeddings: list[torch.Tensor], w: int, h: int) -> list[Region]:
        import torch

        cfg = self.config
        n = cfg.points_per_side
        grid = (np.arange(n, dtype=np.float32) + 0.5) / n
        clicks = np.stack(np.meshgrid(grid * w, grid * h), axis=-1).reshape(-1, 2)  # (n*n, 2) pixels
        logits_kept: list[torch.Tensor] = []
        scores_kept: list[torch.Tensor] = []
        for start in range(0, len(clicks), cfg.points_per_batch):
            pts = self.scale_coords(clicks[start : start + cfg.points_per_batch], w, h)
            logits, iou = self.decode(embeddings, points=pts, multimask=True)
            logits, iou = logits.flatten(0, 1), iou.flatten(0, 1)  # (B*C, h', w'), (B*C,)
            inter = (logits > cfg.stability_offset).sum(dim=(1, 2)).float()
            union = (logits > -cfg.stability_offset).sum(dim=(1, 2)).float().clamp(min=1.0)
            ok = (iou >= cfg.pred_iou_thresh) & (inter / union >= cfg.stability_score_thresh) & (inter > 0)
            logits_kept.append(logits[ok])
            scores_kept.append(iou[ok])
        if not logits_kept or sum(len(s) for s in scores_kept) == 0:
            return []
        logits = torch.cat(logits_kept)
        scores = torch.cat(scores_kept).numpy()
        low = (logits > 0).numpy()  # (M, h', w')
        lh, lw = low.shape[1:]
        boxes = np.zeros((len(low), 4), np.float32)
        for i, m in enumerate(low):
            b = mask_box(m)
            boxes[i] = (
                (0, 0, 0, 0) if b is None else (b[0] * w / lw, b[1] * h / lh, b[2] * w / lw, b[3] * h / lh)
            )
        keep = _nms(boxes, scores, cfg.box_nms_thresh)
        min_area = cfg.min_area_fraction * w * h
        regions: list[Region] = []
        for start in range(0, len(keep), 16):  # upsample a few at a time: full-size masks are large
            if len(regions) >= cfg.max_regions:
                break
            idx = keep[start : start + 16]
            for region in self._regions(logits[idx][:, None], torch.from_numpy(scores[idx]), w, h):
                if region.area >= max(1.0, min_area) and len(regions) < cfg.max_regions:
                    regions.append(region)
        return regions
