"""UniCLIP's training model: CLIP towers + the training-only OCR presence and semantic heads.

:mod:`.heads` holds the heads, :mod:`.model` the model that trains them (:class:`UniClipModel`). The
Task is :mod:`memesearch.train.tasks.uniclip`; what is served is the plain dual encoder, exported with
``memesearch export RUN --out DIR`` and loaded as ``clip:DIR``.
"""

from memesearch.models.uniclip.heads import PresenceHead, PresenceHeadConfig, SemanticHead, SemanticHeadConfig
from memesearch.models.uniclip.model import UniClipArch, UniClipModel

__all__ = [
    "PresenceHead",
    "PresenceHeadConfig",
    "SemanticHead",
    "SemanticHeadConfig",
    "UniClipArch",
    "UniClipModel",
]
