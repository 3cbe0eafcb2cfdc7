"""Decoding captions from image embeddings: greedy, beam search and sampling.

The search itself is transformers' ``generate(inputs_embeds=prefix, ...)`` (it returns only the new
tokens). Every returned caption is then rescored by one teacher-forced pass, so all three methods report
the same score::

    score = sum of log p(token) over the caption's tokens and its end token / length ** length_penalty

(natural log; ``length`` counts the end token; a caption cut at ``max_tokens`` has no end token). With
``length_penalty=1`` it is the mean log-probability per token; beam search ranks by the same formula.
Captions of one image come back best first.

Example::

    >>> captions = generate_captions(model, tokenizer, features, DecodeConfig(num_beams=4,   # doctest: +SKIP
    ...                                                                       num_return=2))
    >>> captions[0][0].text, captions[0][0].score                                            # doctest: +SKIP
    ('grinning face', -0.05)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from memesearch.caption.decoder import special_ids
from memesearch.caption.model import ClipCapModel, pad_rows
from memesearch.errors import ConfigError


@dataclass(frozen=True)
class DecodeConfig:
    """How captions are decoded.

    Greedy: ``num_beams=1`` and ``sample=False`` (the default). Beam search: ``num_beams > 1``, ranked with
    ``length_penalty`` (the exponent of the length the log-probability sum is divided by). Sampling:
    ``sample=True`` with ``temperature`` and nucleus ``top_p``; ``seed`` makes it reproducible.
    ``num_return``: captions per image (at most ``num_beams`` for beam search). ``max_tokens``: the longest
    caption in tokens (0: the captioner's ``max_caption_tokens``). ``lang``: the caption language for
    captioners that know several (None: their first).
    """

    num_beams: int = 1
    sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    length_penalty: float = 1.0
    num_return: int = 1
    max_tokens: int = 0
    lang: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.num_beams < 1 or self.num_return < 1 or self.max_tokens < 0:
            raise ConfigError(
                f"decoding: num_beams={self.num_beams}, num_return={self.num_return}, "
                f"max_tokens={self.max_tokens}; expected num_beams >= 1, num_return >= 1, max_tokens >= 0"
            )
        if self.sample and self.num_beams > 1:
            raise ConfigError("decoding: sampling and beam search exclude each other; pass one of them")
        if not self.sample and self.num_return > self.num_beams:
            raise ConfigError(
                f"decoding: {self.num_return} captions per image need sampling or at least as many beams "
                f"(num_beams={self.num_beams})"
            )
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"decoding: temperature={self.temperature}, top_p={self.top_p}; expected temperature > 0 "
                "and 0 < top_p <= 1"
            )

    @property
    def method(self) -> str:
        """``greedy``, ``beam`` or ``sample``."""
        return "sample" if self.sample else "beam" if self.num_beams > 1 else "greedy"


@dataclass(frozen=True)
class Caption:
    """One decoded caption: its text, language, score (see the module docstring) and token ids."""

    text: str
    lang: str
    score: float
    tokens: tuple[int, ...]
    finished: bool = True


@torch.no_grad()
def generate_captions(
    model: ClipCapModel, tokenizer: Any, features: Tensor, decode: DecodeConfig | None = None
) -> list[list[Caption]]:
    """``decode.num_return`` captions for each row of ``features (N, F)``, best first."""
    decode = decode or DecodeConfig()
    cfg = model.config
    lang = decode.lang or cfg.languages[0]
    if lang not in cfg.languages:
        raise ConfigError(
            f"this captioner writes {', '.join(cfg.languages)}; --lang {lang!r} is not one of them"
        )
    if features.shape[0] == 0:
        return []
    eos, pad = special_ids(tokenizer)
    max_tokens = decode.max_tokens or cfg.max_caption_tokens
    if model.positions is not None:  # the decoder has no position embeddings beyond this
        max_tokens = min(max_tokens, model.positions - cfg.prefix_tokens)
    prefix = model.prefix(features, model.language_ids(lang, features.shape[0]))  # (N, P, D)
    options: dict[str, Any] = {
        "max_new_tokens": max_tokens,
        "num_return_sequences": decode.num_return,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "use_cache": True,
    }
    if decode.sample:
        options.update(do_sample=True, temperature=decode.temperature, top_p=decode.top_p, top_k=0)
    elif decode.num_beams > 1:
        options.update(
            do_sample=False,
            num_beams=decode.num_beams,
            length_penalty=decode.length_penalty,
            early_stopping=True,
        )
    else:
        options.update(do_sample=False)
    from transformers import GenerationConfig

    generation = GenerationConfig(**options)
    mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
    with torch.random.fork_rng(devices=[]):
        if decode.seed is not None:
            torch.manual_seed(decode.seed)
        out = model.decoder.generate(inputs_embeds=prefix, attention_mask=mask, generation_config=generation)
    rows: list[list[int]] = []
    finished: list[bool] = []
    for seq in out.tolist():  # (N * R, <= max_tokens): only the new tokens
        cut = seq.index(eos) if eos in seq else len(seq)
        rows.append(seq[:cut])
        finished.append(cut < len(seq))
    repeat = torch.arange(features.shape[0], device=features.device).repeat_interleave(decode.num_return)
    scores = score_captions(model, prefix[repeat], rows, finished, eos, pad, decode.length_penalty)
    captions = [
        Caption(
            text=tokenizer.decode(row, skip_special_tokens=True).strip(),
            lang=lang,
            score=float(score),
            tokens=tuple(row),
            finished=done,
        )
        for row, done, score in zip(rows, finished, scores, strict=True)
    ]
    per_image = [captions[i : i + decode.num_return] for i in range(0, len(captions), decode.num_return)]
    return [sorted(group, key=lambda c: -c.score) for group in per_image]


def score_captions(
    model: ClipCapModel,
    prefix: Tensor,
    rows: Sequence[Sequence[int]],
    finished: Sequence[bool],
    eos: int,
    pad: int,
    length_penalty: float = 1.0,
) -> list[float]:
    """Teacher-forced score of each token row after its prefix ``(N, P, D)`` (module docstring)."""
    targets = [[*row, eos] if done else list(row) for row, done in zip(rows, finished, strict=True)]
    ids, mask = pad_rows([t or [eos] for t in targets], pad)
    ids, mask = ids.to(prefix.device), mask.to(prefix.device)
    tokens = model.embed_tokens(ids)  # (N, T, D)
    p = prefix.shape[1]
    full_mask = torch.cat([mask.new_ones(prefix.shape[:2]), mask], dim=1)
    logits = model.decoder(inputs_embeds=torch.cat([prefix, tokens], 1), attention_mask=full_mask).logits
    logp = torch.log_softmax(logits[:, p - 1 : p - 1 + ids.shape[1]].float(), dim=-1)  # (N, T, V)
    picked = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1) * mask  # (N, T)
    lengths = mask.sum(dim=1).clamp_min(1).float()
    return (picked.sum(dim=1) / lengths.pow(length_penalty)).tolist()
