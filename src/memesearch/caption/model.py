"""The ClipCap network: mapping network + (optional) language vector + causal LM decoder.

Decoder input for one caption ``t_1 .. t_n`` (``<eos>`` appended as ``t_{n+1}``)::

    [p_1 .. p_k] [lang] [emb(t_1) .. emb(t_n) emb(<eos>)]     positions 0 .. P + n   (P = k (+1))

The output at position ``P - 1 + j`` predicts ``t_{j+1}``: the first caption token is predicted from the
last prefix (or language) position, and ``<eos>`` is a target, so the model learns to stop. The loss is
cross-entropy on the raw logits; padded positions are masked by position (from the lengths), never by
token id, so a tokenizer whose pad id equals its end id still learns to end (the seed applied softmax
before the cross-entropy, never predicted the first token and prepended a BOS only at inference). The
decoder adds its own position embeddings (the seed added them twice).

Example::

    >>> import torch
    >>> from memesearch.caption.config import CaptionerConfig, DecoderConfig, MapperConfig
    >>> from memesearch.caption.decoder import build_decoder, train_tokenizer
    >>> tok = train_tokenizer(["a cat", "a dog"] * 10, vocab_size=300)
    >>> cfg = CaptionerConfig(encoder="tiny-clip", feature_dim=8, mapper=MapperConfig(prefix_length=2),
    ...                       decoder=DecoderConfig(n_embd=16, n_layer=1, n_head=2, vocab_size=300))
    >>> model = ClipCapModel(cfg, build_decoder(cfg.decoder, tok))
    >>> ids, mask = pad_rows(encode_captions(tok, ["a cat"], 8), 0)
    >>> nll, count = model.caption_nll(torch.zeros(1, 8), ids, mask)
    >>> int(count[0]) == len(tok("a cat")["input_ids"]) + 1
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.caption.config import CaptionerConfig
from memesearch.caption.decoder import decoder_positions, decoder_width, special_ids
from memesearch.caption.mapping import build_mapper
from memesearch.errors import ConfigError


class ClipCapModel(nn.Module):
    """Prefix captioner: ``features (B, F) -> prefix (B, P, D) -> decoder``.

    ``config.feature_dim`` must be set (the image encoder's embedding size).
    """

    decoder: Any  # a transformers causal LM (typed loosely: its methods are not typed for mypy)

    def __init__(self, config: CaptionerConfig, decoder: nn.Module) -> None:
        super().__init__()
        if config.feature_dim < 1:
            raise ValueError("CaptionerConfig.feature_dim must be set (the image encoder's embedding size)")
        positions = decoder_positions(decoder)
        if positions is not None and config.prefix_tokens + config.max_caption_tokens > positions:
            need = config.prefix_tokens + config.max_caption_tokens
            raise ConfigError(
                f"the decoder reads at most {positions} positions, but the prefix ({config.prefix_tokens}) "
                f"plus max_caption_tokens ({config.max_caption_tokens}) need {need}; shorten the prefix or "
                "max_caption_tokens"
            )
        self.config = config
        self.positions = positions
        width = decoder_width(decoder)
        self.mapper = build_mapper(config.mapper, config.feature_dim, width)
        # one learned vector per caption language, after the prefix (absent for one language)
        self.language = nn.Embedding(len(config.languages), width) if config.conditioned else None
        if self.language is not None:
            nn.init.normal_(self.language.weight, std=0.02)
        self.decoder = decoder

    def language_ids(self, languages: Sequence[str] | str | None, batch: int) -> Tensor | None:
        """Language codes -> ``(B,)`` indices into ``config.languages`` (None: the first language)."""
        if self.language is None:
            return None
        langs = self.config.languages
        names = [languages] * batch if isinstance(languages, str) or languages is None else list(languages)
        index = []
        for name in names:
            code = langs[0] if name is None else name
            if code not in langs:
                raise ValueError(f"language {code!r} is not one of this captioner's: {', '.join(langs)}")
            index.append(langs.index(code))
        return torch.tensor(index, dtype=torch.long, device=self.language.weight.device)

    def embed_tokens(self, input_ids: Tensor) -> Tensor:
        """The decoder's input embeddings of token ids: ``(B, T) -> (B, T, D)``."""
        out: Tensor = self.decoder.get_input_embeddings()(input_ids)
        return out

    def prefix(self, features: Tensor, lang: Tensor | None = None) -> Tensor:
        """Decoder input vectors before the caption: ``(B, P, D)``."""
        if self.config.normalize_features:
            # unit length, then scaled by sqrt(F): coordinates of unit variance, the input scale the
            # mapper's default initialisation expects (unit vectors alone made it start ~20x too weak)
            features = F.normalize(features, dim=-1) * math.sqrt(features.shape[-1])
        prefix = self.mapper(features)  # (B, k, D)
        if self.language is not None:
            if lang is None:
                lang = torch.zeros(features.shape[0], dtype=torch.long, device=features.device)
            prefix = torch.cat([prefix, self.language(lang).unsqueeze(1)], dim=1)  # (B, k + 1, D)
        return prefix

    def caption_nll(
        self, features: Tensor, input_ids: Tensor, attention_mask: Tensor, lang: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Per caption: the summed negative log-likelihood of its tokens (``<eos>`` included) and their count.

        ``input_ids`` / ``attention_mask``: ``(B, T)``, right-padded (mask 0 on padding). Returns two
        ``(B,)`` tensors; the mean token loss of a batch is ``nll.sum() / count.sum()``.
        """
        prefix = self.prefix(features, lang)  # (B, P, D)
        p = prefix.shape[1]
        embeds = torch.cat([prefix, self.embed_tokens(input_ids).to(prefix.dtype)], dim=1)  # (B, P + T, D)
        mask = torch.cat([attention_mask.new_ones(prefix.shape[:2]), attention_mask], dim=1)
        logits = self.decoder(inputs_embeds=embeds, attention_mask=mask).logits  # (B, P + T, V)
        predicting = logits[:, p - 1 : p - 1 + input_ids.shape[1]]  # (B, T, V): position P-1+j -> t_{j+1}
        nll = F.cross_entropy(predicting.float().transpose(1, 2), input_ids, reduction="none")  # (B, T)
        keep = attention_mask.to(nll.dtype)
        return (nll * keep).sum(dim=1), keep.sum(dim=1)


def encode_captions(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """Token ids of each caption with the end token appended, at most ``max_tokens`` in all."""
    eos, _ = special_ids(tokenizer)
    rows = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [[*row[: max_tokens - 1], eos] for row in rows]


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad token rows -> ``(input_ids (B, T), attention_mask (B, T))`` (int64)."""
    width = max((len(r) for r in rows), default=1)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask
