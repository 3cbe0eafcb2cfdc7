"""The ``starter`` model: a small CNN image tower aligned with the frozen ``e5-small`` text space.

What lives where:

- :mod:`.config` — :class:`StarterConfig` and the torch-free input conventions (:func:`emotion_text`,
  :func:`input_array`);
- :mod:`.model` — the network (:func:`build_model`) and its torch inputs (:func:`to_pixels`,
  :func:`normalize_pixels`);
- :mod:`.onnx_tower` — the tower exported to ONNX (:func:`export_onnx`, cached per weights by
  :func:`onnx_file`) and run by onnxruntime (:class:`OnnxTower`): how images are embedded without torch;
- :mod:`.encoder` — :class:`StarterEncoder` on a weights directory (the committed one by default),
  what ``create_encoder("starter")`` returns;
- :mod:`.text_cache` — :class:`TextEmbeddingCache`, e5-small vectors of texts kept on disk.

Training is :mod:`memesearch.train.tasks.starter` (``memesearch train --preset starter``); writing and
evaluating a weights directory from a run is :mod:`memesearch.train.starter_export`
(``memesearch export RUN_DIR --dataset data/emoji``).

Importing this package is light (no torch); the names below load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

_API: dict[str, str] = {
    "StarterConfig": "memesearch.models.starter.config",
    "StarterModel": "memesearch.models.starter.model",
    "build_model": "memesearch.models.starter.model",
    "is_starter_model": "memesearch.models.starter.model",
    "to_pixels": "memesearch.models.starter.model",
    "normalize_pixels": "memesearch.models.starter.model",
    "emotion_text": "memesearch.models.starter.config",
    "input_array": "memesearch.models.starter.config",
    "OnnxTower": "memesearch.models.starter.onnx_tower",
    "export_onnx": "memesearch.models.starter.onnx_tower",
    "onnx_file": "memesearch.models.starter.onnx_tower",
    "StarterEncoder": "memesearch.models.starter.encoder",
    "load_starter": "memesearch.models.starter.encoder",
    "read_weights_config": "memesearch.models.starter.encoder",
    "weights_dir": "memesearch.models.starter.encoder",
    "CONFIG_FILE": "memesearch.models.starter.encoder",
    "METRICS_FILE": "memesearch.models.starter.encoder",
    "MODEL_FILE": "memesearch.models.starter.encoder",
    "WEIGHTS_FORMAT": "memesearch.models.starter.encoder",
    "WEIGHTS_FORMAT_VERSION": "memesearch.models.starter.encoder",
    "TextEmbeddingCache": "memesearch.models.starter.text_cache",
    "default_cache_dir": "memesearch.models.starter.text_cache",
    "emotion_features": "memesearch.models.starter.text_cache",
}

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "WEIGHTS_FORMAT",
    "WEIGHTS_FORMAT_VERSION",
    "OnnxTower",
    "StarterConfig",
    "StarterEncoder",
    "StarterModel",
    "TextEmbeddingCache",
    "build_model",
    "default_cache_dir",
    "emotion_features",
    "emotion_text",
    "export_onnx",
    "input_array",
    "is_starter_model",
    "load_starter",
    "normalize_pixels",
    "onnx_file",
    "read_weights_config",
    "to_pixels",
    "weights_dir",
]

__getattr__, __dir__ = lazy_api(__name__, _API, globals())


if TYPE_CHECKING:  # pragma: no cover
    from memesearch.models.starter.config import StarterConfig, emotion_text, input_array
    from memesearch.models.starter.encoder import (
        CONFIG_FILE,
        METRICS_FILE,
        MODEL_FILE,
        WEIGHTS_FORMAT,
        WEIGHTS_FORMAT_VERSION,
        StarterEncoder,
        load_starter,
        read_weights_config,
        weights_dir,
    )
    from memesearch.models.starter.model import (
        StarterModel,
        build_model,
        is_starter_model,
        normalize_pixels,
        to_pixels,
    )
    from memesearch.models.starter.onnx_tower import OnnxTower, export_onnx, onnx_file
    from memesearch.models.starter.text_cache import TextEmbeddingCache, default_cache_dir, emotion_features
