"""Segmenters by name: ``auto`` (offline, no weights) and ``sam2:<dir or hub id>``.

The registry lives apart from the :class:`~memesearch.objects.segmenter.Segmenter` contract so that the
implementations import the contract and only this module imports them (lazily: SAM2 needs transformers).
"""

from __future__ import annotations

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.objects.segmenter import SEGMENTERS, Segmenter, SegmenterConfig


def create_segmenter(
    spec: str, config: SegmenterConfig | None = None, *, device: str | None = None
) -> Segmenter:
    """The segmenter named by ``spec``: ``auto`` or ``sam2:<dir or hub id>`` (unknown: lists the valid).

    ``device`` places a model (``sam2``: ``None`` = CUDA when present); ``auto`` runs on the CPU.
    """
    cfg = config or SegmenterConfig()
    name, _, arg = spec.strip().partition(":")
    if name == "auto":
        if arg:
            raise ConfigError(f"the auto segmenter takes no argument, got {spec!r}")
        from memesearch.objects.auto import AutoSegmenter

        return AutoSegmenter(cfg)
    if name == "sam2":
        if not arg.strip():
            raise ConfigError(
                f"sam2 needs a model folder or hub id, got {spec!r}: e.g. sam2:facebook/sam2.1-hiera-tiny"
            )
        from memesearch.objects.sam2 import Sam2Segmenter

        return Sam2Segmenter(arg.strip(), cfg, device=device)
    valid = "; ".join(f"{k} ({v})" for k, v in SEGMENTERS.items())
    raise UnknownNameError(f"unknown segmenter {spec!r}; valid: {valid}")
