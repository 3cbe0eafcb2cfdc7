"""The caption enricher: generated captions for items, from a captioner (:mod:`memesearch.caption`).

Run at ingest when an index names a captioner (``memesearch index ... --captioner starter-caption``). Each
item's decoded frames (the cover, and evenly spaced frames of GIFs and videos) are captioned in every
language the captioner writes; the distinct captions, in frame order, are added to the item's captions,
where the text and lexical branches and the QI co-attention read them, and recorded apart in
``meta["generated_captions"]`` (``[{"text", "lang", "score"}]``) with ``meta["captioner"]`` (name and
version), so that given and generated captions can always be told apart. The result depends on the pixels
only: it is cached per content hash and captioner version (a new captioner re-captions, nothing else
does).

Example::

    enricher = CaptionEnricher("starter-caption")
    enricher.enrich([EnrichInput(sha256=..., media="image", frames=[img])], ctx)
    # [{"captions": ["grinning face", "嘿嘿"], "meta": {"generated_captions": [...], "captioner": {...}}}]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from memesearch.enrich.enrichers import EnrichContext, EnrichInput

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.caption.captioner import Captioner


class CaptionEnricher:
    """Generated captions (module docstring). The captioner loads on first use, on CPU by default."""

    name = "caption"
    fields: tuple[str, ...] = ("captions", "meta")

    def __init__(
        self,
        captioner: str | Captioner = "starter-caption",
        *,
        languages: Sequence[str] | None = None,
        device: str | None = "cpu",
        batch_size: int = 16,
    ) -> None:
        self._name = captioner if isinstance(captioner, str) else captioner.name
        self._captioner = None if isinstance(captioner, str) else captioner
        self._languages = tuple(languages) if languages else None
        self.device = device
        self.batch_size = batch_size

    @property
    def captioner(self) -> Captioner:
        if self._captioner is None:
            from memesearch.caption.captioner import load_captioner

            self._captioner = load_captioner(self._name, device=self.device)
        return self._captioner

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages or self.captioner.languages

    @property
    def version(self) -> str:
        return f"{self.captioner.version}:{','.join(self.languages)}"

    def wants(self, item: EnrichInput) -> bool:
        return bool(item.frames)

    def cache_key(self, item: EnrichInput) -> str:
        return item.sha256

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        from memesearch.caption.decoding import DecodeConfig

        frames = [f for it in items for f in it.frames]
        owner = [i for i, it in enumerate(items) for _ in it.frames]
        features = self.captioner.features(frames, batch_size=self.batch_size)  # (F, dim): once per frame
        generated: list[list[dict[str, Any]]] = [[] for _ in items]
        for lang in self.languages:
            decode = dataclasses.replace(DecodeConfig(), lang=lang)
            captions = self.captioner.caption_features(features, decode, batch_size=self.batch_size)
            for i, per_frame in zip(owner, captions, strict=True):
                best = per_frame[0]
                if best.text and all(g["text"] != best.text for g in generated[i]):
                    generated[i].append({"text": best.text, "lang": lang, "score": round(best.score, 4)})
        stamp = {"name": self.captioner.name, "version": self.captioner.version}
        return [
            {"captions": [g["text"] for g in gen], "meta": {"generated_captions": gen, "captioner": stamp}}
            for gen in generated
        ]
