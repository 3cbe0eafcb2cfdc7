"""The starter image tower (and its QI emotion gate) exported to ONNX and run by onnxruntime.

Why: importing torch takes a second or more on 2 CPU cores, longer than a whole search should; the
starter's tower is a small CNN that onnxruntime runs as fast as torch does. So images — ingest, and
image queries — go through an ONNX file, and torch stays for training, regions and as the fallback.

Where the file comes from (decided in issue 15): it is **built on first use into the user cache**, one file
per weights, named by :func:`tower_key` — the SHA-256 of the weights file, the architecture and
:data:`EXPORT_VERSION` — under ``$MEMESEARCH_CACHE_DIR/onnx/`` (default ``~/.cache/memesearch/onnx/``).
Nothing is committed: any ``starter:DIR`` (a new default starter included) gets its own file the first
time it embeds an image, which costs one torch load and a ~2 s export; after that, no torch. The export
needs the ``onnx`` package (the ``models`` extra, beside torch). ``memesearch models onnx`` builds the
file ahead of time (e.g. into an image whose cache is read-only at run time).

The graph: inputs ``pixels`` ``(B, 3, S, S)`` float32 in [-1, 1] (:func:`~memesearch.models.starter.
config.input_array`) and, when the model has an emotion gate, ``emotion`` ``(B, E)`` (the e5 vectors of
the items' emotion words) and ``emotion_mask`` ``(B,)`` (1.0 where an item has emotion words); outputs
``features`` ``(B, dim)`` (the tower, not normalised: ``encode_image``) and ``items`` ``(B, dim)``
(through the gate, unit length: ``encode_items``). Its outputs equal the torch model's to 1e-5
(``tests/unit/test_starter_onnx.py``).

Example::

    >>> tower = OnnxTower(onnx_file(key))                          # doctest: +SKIP
    >>> features, items = tower.run(input_array(images, 64))        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.utils.cache import default_cache_dir

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

log = logging.getLogger(__name__)

#: bump when the exported graph changes (inputs, outputs, what is folded): old cache files are not reused
EXPORT_VERSION = 1
OPSET = 17
#: which runtime embeds images with the starter: ``auto`` (ONNX on the CPU in float32, else torch),
#: ``onnx`` (always; errors are raised) or ``torch`` (never ONNX: the behaviour before issue 15)
RUNTIME_ENV = "MEMESEARCH_IMAGE_RUNTIME"
RUNTIMES = ("auto", "onnx", "torch")


def image_runtime() -> str:
    """The runtime asked for by ``$MEMESEARCH_IMAGE_RUNTIME`` (default ``auto``)."""
    value = os.environ.get(RUNTIME_ENV, "auto").strip().lower() or "auto"
    if value not in RUNTIMES:
        raise ConfigError(f"{RUNTIME_ENV}={value!r}: expected one of {', '.join(RUNTIMES)}")
    return value


def tower_key(weights_sha256: str, architecture: Mapping[str, Any]) -> str:
    """The name of a weights directory's ONNX file: SHA-256 of the weights hash, the architecture and the
    export version (hex)."""
    data = {"weights": weights_sha256, "architecture": dict(architecture), "export": EXPORT_VERSION}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def onnx_file(key: str, cache_dir: str | Path | None = None) -> Path:
    """Where the ONNX file of ``key`` (:func:`tower_key`) lives: ``<cache>/onnx/starter-<key[:24]>.onnx``."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "onnx" / f"starter-{key[:24]}.onnx"


def export_onnx(model: nn.Module, path: str | Path) -> Path:
    """Write the ONNX graph of a starter model (a :class:`~memesearch.models.starter.model.StarterModel`,
    or an object-guided one: whole images go through its plain tower) to ``path``, atomically.

    Needs torch and the ``onnx`` package. The model is exported in float32 on the CPU, in eval mode
    (batch norm folded into the convolutions), with a dynamic batch axis.
    """
    import copy

    import torch

    config: Any = model.config
    gated = bool(config.emotion_dim)
    cpu_model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()

    class Graph(torch.nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixels: Any, *gate: Any) -> tuple[Any, Any]:
            inner: Any = self.inner
            features = inner.image_features(pixels)
            emotion, mask = gate if gate else (None, None)
            return features, inner.qi(features, emotion, mask).embedding

    size, batch = int(config.image_size), 2
    inputs: tuple[Any, ...] = (torch.zeros(batch, 3, size, size),)
    names = ["pixels"]
    if gated:
        inputs += (torch.zeros(batch, int(config.emotion_dim)), torch.zeros(batch))
        names += ["emotion", "emotion_mask"]
    axes = {name: {0: "batch"} for name in [*names, "features", "items"]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                Graph(cpu_model),
                inputs,
                tmp,
                dynamo=False,
                input_names=names,
                output_names=["features", "items"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class OnnxTower:
    """An exported starter graph in an onnxruntime session (CPU)."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # no busy-waiting between operators: on 2 shared cores spinning threads slow the other stages
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own errors (InvalidProtobuf, Fail) are no RuntimeError
            raise RuntimeError(f"onnxruntime cannot load {self.path}: {exc}") from exc
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.gated = "emotion" in self.inputs
        self.emotion_dim = int(self.session.get_inputs()[1].shape[1]) if self.gated else 0

    def run(
        self, pixels: np.ndarray, emotion: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(features, items)`` of a batch: pixels ``(B, 3, S, S)`` in [-1, 1]; ``emotion`` ``(B, E)`` and
        ``mask`` ``(B,)`` (None: no item has emotion words)."""
        n = int(pixels.shape[0])
        feed: dict[str, np.ndarray] = {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)}
        if self.gated:
            if emotion is None or mask is None:
                emotion = np.zeros((n, self.emotion_dim), dtype=np.float32)
                mask = np.zeros(n, dtype=np.float32)
            feed["emotion"] = np.ascontiguousarray(emotion, dtype=np.float32)
            feed["emotion_mask"] = np.asarray(mask, dtype=np.float32)
        features, items = self.session.run(["features", "items"], feed)
        return np.asarray(features, dtype=np.float32), np.asarray(items, dtype=np.float32)
