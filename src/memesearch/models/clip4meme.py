"""The CLIP4Meme networks: stage 1 (QI: query vs image + emotion gate + caption co-attention) and stage 2
(QC: a separate text tower for query vs the item's context text).

Training lives in :mod:`memesearch.train.tasks.clip4meme` (losses, data, which parameters move); serving
a trained run (``memesearch index --model checkpoint:RUN``) in :mod:`memesearch.models.trained`. Both
build these modules and feed them the same inputs:

- the **item** (:meth:`Clip4MemeQI.encode_item`): the projected CLIP image feature, the item's emotion
  words (joined with ", ") through a *frozen copy* of the CLIP text tower, and the token states of its
  context text (:func:`item_text`: captions, then the readable OCR text) from the same frozen copy for
  the co-attention; items without emotions or text skip that term;
- the **query** (:meth:`Clip4MemeQI.encode_query`): the pooled, projected text of the trainable tower;
- the **QC text** (:meth:`Clip4MemeQC.encode_qc_text`): queries and context passages through the QC
  tower (a separate copy of the CLIP text tower).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.models.clip_towers import ClipParts, text_features
from memesearch.models.logit_scale import LogitScale
from memesearch.models.qi import QIConfig, QIHead, QIOutput


@dataclass(frozen=True)
class Clip4MemeArch:
    """The architecture settings of a CLIP4Meme model (a subset of the Task's ``task_config``).

    Attributes:
        captions: ``"all"`` feeds the item's context texts joined by newlines to the co-attention;
            ``"first"`` only the first one (CLIP4Meme used ``titles[0]``).
        use_emotions: feed emotion words through the gate (False: no emotion term at all).
        use_captions: feed context tokens to the co-attention (False: no co-attention block).
        heads, dropout, gate_init: of the QI head (:class:`~memesearch.models.qi.QIConfig`).
        logit_scale_init: initial temperature ``1 / tau``.
    """

    captions: Literal["all", "first"] = "all"
    use_emotions: bool = True
    use_captions: bool = True
    heads: int = 8
    dropout: float = 0.1
    gate_init: float = 0.1
    logit_scale_init: float = 1 / 0.07

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | Any) -> Clip4MemeArch:
        """The architecture keys of a ``task_config`` (a mapping or a config object); others are ignored."""
        get = settings.get if isinstance(settings, Mapping) else lambda k, d: getattr(settings, k, d)
        return cls(**{f.name: get(f.name, f.default) for f in fields(cls)})


def item_text(texts: Sequence[str], how: str = "all") -> str | None:
    """The text an item's co-attention reads: its context texts (captions, then OCR) joined by newlines
    (:func:`memesearch.data.records.context_passage`), or the first one; None when it has none."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return None
    return texts[0] if how == "first" else "\n".join(texts)


def emotion_words(words: Sequence[str]) -> str | None:
    """The text of an item's emotion words for the gate (``"happy, funny"``); None when it has none."""
    words = [w for w in words if w and w.strip()]
    return ", ".join(words) if words else None


def _text_copy(clip: nn.Module) -> nn.ModuleDict:
    source: Any = clip
    return nn.ModuleDict(
        {"model": copy.deepcopy(source.text_model), "proj": copy.deepcopy(source.text_projection)}
    )


class Clip4MemeQI(nn.Module):
    """CLIP towers + QI head; texts come in as token ids (``TextTokenizer`` of
    :mod:`memesearch.models.clip_towers`)."""

    def __init__(self, parts: ClipParts, arch: Clip4MemeArch) -> None:
        super().__init__()
        self.kind = parts.kind
        self.clip = parts.model
        self.frozen_text = _text_copy(self.clip)
        self.frozen_text.requires_grad_(False)
        dim = parts.dim
        self.qi_head = QIHead(
            QIConfig(
                dim=dim,
                emotion_dim=dim if arch.use_emotions else None,
                caption_dim=dim if arch.use_captions else None,
                heads=arch.heads,
                dropout=arch.dropout,
                gate_init=arch.gate_init,
            )
        )
        self.logit_scale = LogitScale(init=arch.logit_scale_init)

    def encode_query(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(B, T) token ids -> (B, D) unit query embeddings (trainable text tower)."""
        clip: Any = self.clip
        _, pooled = text_features(clip.text_model, clip.text_projection, self.kind, ids, mask)
        return F.normalize(pooled, dim=-1)

    @torch.no_grad()
    def frozen_text_features(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(tokens (B, T, D), pooled (B, D)) of the frozen text copy."""
        return text_features(self.frozen_text["model"], self.frozen_text["proj"], self.kind, ids, mask)

    def encode_item(
        self,
        pixels: Tensor,
        emotion: Tensor | None,
        emotion_mask: Tensor | None,
        caption: Tensor | None,
        caption_mask: Tensor | None,
    ) -> QIOutput:
        """Image (B, 3, H, W), emotion (B, D) + (B,) mask, caption tokens (B, T, D) + (B, T) mask."""
        from memesearch.models.encoders.hf_clip import features

        image = self.clip.get_image_features(pixel_values=pixels)  # type: ignore[operator]
        return self.qi_head(features(image), emotion, emotion_mask, caption, caption_mask)

    @torch.no_grad()
    def item_inputs(
        self,
        tokenize: Any,
        emotions: Sequence[str | None] | None,
        texts: Sequence[str | None] | None,
        *,
        n: int,
        device: torch.device,
    ) -> dict[str, Tensor | None]:
        """The gate and co-attention inputs of ``n`` items from their emotion text and context text
        (:func:`emotion_words`, :func:`item_text`; None = the item has none): frozen-copy features, zero
        rows and False masks for items without them; None for a term the model does not have."""
        dim = self.qi_head.config.dim
        out: dict[str, Tensor | None] = {
            "emotion": None,
            "emotion_mask": None,
            "caption": None,
            "caption_mask": None,
        }
        if self.qi_head.config.emotion_dim is not None and emotions is not None:
            emotion = torch.zeros(n, dim, device=device)
            rows = [i for i, e in enumerate(emotions) if e]
            if rows:
                ids, mask = tokenize([emotions[i] for i in rows])
                _, pooled = self.frozen_text_features(ids.to(device), mask.to(device))
                emotion[rows] = pooled.to(emotion.dtype)
            out["emotion"] = emotion
            out["emotion_mask"] = torch.tensor([bool(e) for e in emotions], device=device)
        if self.qi_head.config.caption_dim is not None and texts is not None:
            t = int(tokenize.max_words)
            caption = torch.zeros(n, t, dim, device=device)
            caption_mask = torch.zeros(n, t, dtype=torch.bool, device=device)
            rows = [i for i, c in enumerate(texts) if c]
            if rows:
                ids, mask = tokenize([texts[i] for i in rows])
                tokens, _ = self.frozen_text_features(ids.to(device), mask.to(device))
                caption[rows] = tokens.to(caption.dtype)
                caption_mask[rows] = mask.to(device).bool()
            out["caption"] = caption
            out["caption_mask"] = caption_mask
        return out


class Clip4MemeQC(Clip4MemeQI):
    """The stage-1 model (same parameter names, frozen by the Task) plus the QC text tower."""

    def __init__(self, parts: ClipParts, arch: Clip4MemeArch) -> None:
        super().__init__(parts, arch)
        self.qc_text = _text_copy(self.clip)
        self.qc_logit_scale = LogitScale(init=arch.logit_scale_init)

    def encode_qc_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(B, T) token ids -> (B, D) unit embeddings of the QC tower (queries and context texts)."""
        _, pooled = text_features(self.qc_text["model"], self.qc_text["proj"], self.kind, ids, mask)
        return F.normalize(pooled, dim=-1)
