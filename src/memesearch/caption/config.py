"""Typed, frozen configs of the captioner: the mapping network, the decoder, and the whole model.

A captioner is ``frozen image encoder -> mapping network -> prefix of k vectors -> causal LM decoder``
(ClipCap). :class:`CaptionerConfig` names each part; it is recorded in every saved captioner and
checkpoint (``captioner.json``), so a captioner always rebuilds itself from its own description.

Example::

    >>> cfg = CaptionerConfig(encoder="tiny-clip:0", mapper=MapperConfig(kind="mlp", prefix_length=2),
    ...                       decoder=DecoderConfig(n_embd=32, n_layer=1, n_head=2))
    >>> CaptionerConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from memesearch.errors import ConfigError

MapperKind = Literal["mlp", "transformer"]


def _bad(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"captioner config {key}: got {value!r}, expected {expected}")


@dataclass(frozen=True)
class MapperConfig:
    """The mapping network from one image embedding to ``prefix_length`` decoder input vectors.

    ``mlp``: Linear(feature -> hidden) -> tanh -> Linear(hidden -> prefix_length * width), where
    ``hidden`` defaults to ``prefix_length * width / 2`` (ClipCap's MLP). ``transformer``: the embedding is
    projected to ``clip_length`` vectors, ``prefix_length`` learned constants are appended, ``layers``
    pre-norm transformer layers (``heads`` heads, MLP ``mlp_ratio`` x) run over them batch-first, and the
    outputs at the constants are the prefix (ClipCap's transformer mapper).
    """

    kind: MapperKind = "mlp"
    prefix_length: int = 10
    hidden: int = 0
    clip_length: int = 10
    layers: int = 8
    heads: int = 8
    mlp_ratio: float = 2.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "transformer"):
            raise _bad("mapper.kind", self.kind, "'mlp' or 'transformer'")
        for key in ("prefix_length", "clip_length", "layers", "heads"):
            if getattr(self, key) < 1:
                raise _bad(f"mapper.{key}", getattr(self, key), "an integer >= 1")
        if self.hidden < 0:
            raise _bad("mapper.hidden", self.hidden, "an integer >= 0 (0: prefix_length * width / 2)")
        if self.mlp_ratio <= 0 or not 0 <= self.dropout < 1:
            raise _bad("mapper.mlp_ratio/dropout", (self.mlp_ratio, self.dropout), "> 0 and [0, 1)")


@dataclass(frozen=True)
class DecoderConfig:
    """The causal language model that reads the prefix.

    ``source``: a Hugging Face causal LM (local folder or hub id: ``gpt2``, ``gpt2-medium``, a Chinese
    GPT-2), loaded with its weights and tokenizer; ``HF_HUB_OFFLINE=1`` is honoured. Empty: a small GPT-2
    built from ``n_embd``/``n_layer``/``n_head``/``n_positions`` with random weights, and a byte-level BPE
    tokenizer of ``vocab_size`` tokens trained on the training captions (or read from ``tokenizer``, a
    folder or hub id). ``freeze``: keep the decoder's weights fixed (only the mapping network trains).
    """

    source: str = ""
    tokenizer: str = ""
    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_positions: int = 64
    vocab_size: int = 4000
    dropout: float = 0.1
    freeze: bool = False

    def __post_init__(self) -> None:
        for key in ("n_embd", "n_layer", "n_head", "n_positions"):
            if getattr(self, key) < 1:
                raise _bad(f"decoder.{key}", getattr(self, key), "an integer >= 1")
        if self.n_embd % self.n_head:
            raise _bad("decoder.n_head", self.n_head, f"a divisor of n_embd={self.n_embd}")
        if self.vocab_size < 300:
            raise _bad("decoder.vocab_size", self.vocab_size, "an integer >= 300 (256 bytes + merges)")
        if not 0 <= self.dropout < 1:
            raise _bad("decoder.dropout", self.dropout, "a fraction in [0, 1)")

    @property
    def pretrained(self) -> bool:
        """True when the decoder's weights come from ``source`` (not built from this config)."""
        return bool(self.source.strip())


@dataclass(frozen=True)
class CaptionerConfig:
    """The whole captioner.

    Attributes:
        encoder: registry name of the frozen image encoder (``starter``, ``clip:<dir>``,
            ``checkpoint:<run>``, ``tiny-clip:0``): see :func:`memesearch.models.create_encoder`.
        feature_dim: size of the encoder's image embedding (0: not known yet; filled in when the model
            is built, recorded in saved captioners).
        normalize_features: feed unit-length image embeddings (cosine space) to the mapping network.
        mapper: the mapping network (:class:`MapperConfig`).
        decoder: the language model (:class:`DecoderConfig`).
        languages: caption languages. With two or more, each caption is conditioned on a learned
            language vector placed after the prefix (works with frozen decoders too); the first is the
            default at decoding time.
        max_caption_tokens: captions are cut to this many tokens in training (end token included), and
            decoding stops after it by default.
    """

    encoder: str = "starter"
    feature_dim: int = 0
    normalize_features: bool = True
    mapper: MapperConfig = field(default_factory=MapperConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    languages: tuple[str, ...] = ("en",)
    max_caption_tokens: int = 32

    def __post_init__(self) -> None:
        if not self.encoder.strip():
            raise _bad("encoder", self.encoder, "an image encoder name such as 'starter' or 'clip:<dir>'")
        if self.feature_dim < 0:
            raise _bad("feature_dim", self.feature_dim, "an integer >= 0")
        if not self.languages or len(set(self.languages)) != len(self.languages):
            raise _bad("languages", self.languages, "a non-empty list of distinct language codes")
        if self.max_caption_tokens < 2:
            raise _bad("max_caption_tokens", self.max_caption_tokens, "an integer >= 2")

    @property
    def conditioned(self) -> bool:
        """Whether captions carry a language vector (two or more languages)."""
        return len(self.languages) > 1

    @property
    def prefix_tokens(self) -> int:
        """Decoder input vectors before the first caption token (the prefix, plus the language vector)."""
        return self.mapper.prefix_length + (1 if self.conditioned else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["languages"] = list(self.languages)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaptionerConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` naming the valid ones."""
        values = _checked(cls, data, "captioner config")
        if "mapper" in values:
            values["mapper"] = MapperConfig(**_checked(MapperConfig, values["mapper"], "mapper"))
        if "decoder" in values:
            values["decoder"] = DecoderConfig(**_checked(DecoderConfig, values["decoder"], "decoder"))
        if "languages" in values:
            values["languages"] = tuple(str(v) for v in values["languages"])
        return cls(**values)


def _checked(cls: type, data: Any, where: str) -> dict[str, Any]:
    if isinstance(data, cls):
        return {f.name: getattr(data, f.name) for f in dataclasses.fields(cls)}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys, got {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid keys: {', '.join(sorted(names))}")
    return dict(data)
