"""The captioner's decoder: any Hugging Face causal LM (folder or hub id), or a small GPT-2 built from config
with a byte-level BPE tokenizer trained on the captions.

Loading follows the encoder registry's rules (:mod:`memesearch.models.encoders.sources`): an existing
folder loads from disk, a hub id from the hub cache or the hub, ``HF_HUB_OFFLINE=1`` is read at call
time, every failure is one sentence. A saved captioner rebuilds its decoder from the recorded
transformers config (:func:`decoder_from_description`), so loading it never needs the hub.

Example::

    >>> tok = train_tokenizer(["grinning face", "笑哭了"] * 20, vocab_size=300)
    >>> model = build_decoder(DecoderConfig(n_embd=32, n_layer=1, n_head=2, vocab_size=300), tok)
    >>> tok.decode(tok("笑哭了")["input_ids"])
    '笑哭了'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from memesearch.caption.config import DecoderConfig
from memesearch.models.encoders.base import EncoderLoadError
from memesearch.models.encoders.sources import resolve_source

log = logging.getLogger(__name__)

PAD_TOKEN = "<pad>"
EOS_TOKEN = "<eos>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (any script: English words, Chinese characters) trained on ``texts``.

    Ids 0 and 1 are ``<pad>`` and ``<eos>``; the 256 bytes come next, then the merges. Training is
    deterministic for the same texts in the same order. Returns a transformers
    ``PreTrainedTokenizerFast`` (saved and loaded with ``save_pretrained`` / ``AutoTokenizer``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD_TOKEN, eos_token=EOS_TOKEN)


def special_ids(tokenizer: Any) -> tuple[int, int]:
    """``(end id, pad id)`` of a tokenizer: its EOS (else SEP, as BERT-style Chinese GPT-2 tokenizers),
    and its PAD (else the end id; padding is masked out of the loss by position, never by id)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = tokenizer.sep_token_id
    if eos is None:
        raise EncoderLoadError(
            f"the decoder's tokenizer ({type(tokenizer).__name__}) has neither an EOS nor a SEP token; "
            "a captioner needs one to end captions"
        )
    pad = tokenizer.pad_token_id
    return int(eos), int(eos if pad is None else pad)


def build_decoder(config: DecoderConfig, tokenizer: Any) -> Any:
    """A randomly initialised GPT-2 (transformers ``GPT2LMHeadModel``) of ``config``'s size for
    ``tokenizer``'s vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    eos, pad = special_ids(tokenizer)
    hf_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_positions=config.n_positions,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    return GPT2LMHeadModel(hf_config)


def load_pretrained_decoder(config: DecoderConfig) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of ``config.source`` (tokenizer from ``config.tokenizer`` when set)."""
    import transformers

    source = resolve_source(f"decoder:{config.source}", config.source)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source.location, local_files_only=source.local_files_only
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise source.fail("the decoder weights", exc) from None
    return model, load_tokenizer(config.tokenizer or config.source)


def load_tokenizer(location: str) -> Any:
    """The tokenizer in a folder or of a hub id (same rules as the decoder)."""
    import transformers

    source = resolve_source(f"tokenizer:{location}", location)
    try:
        return transformers.AutoTokenizer.from_pretrained(
            source.location, local_files_only=source.local_files_only
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise source.fail("the tokenizer", exc) from None


def describe_decoder(model: Any) -> dict[str, Any]:
    """The transformers config of a decoder as a JSON-ready dict (what :func:`decoder_from_description`
    reads back)."""
    data: dict[str, Any] = model.config.to_dict()
    return data


def decoder_from_description(description: Mapping[str, Any]) -> Any:
    """An untrained decoder of the architecture a saved captioner recorded (weights are loaded after)."""
    import transformers

    values = dict(description)
    model_type = values.pop("model_type", None)
    if not model_type:
        raise EncoderLoadError("the saved decoder description has no model_type; it was not written here")
    try:
        hf_config = transformers.AutoConfig.for_model(model_type, **values)
        return transformers.AutoModelForCausalLM.from_config(hf_config)
    except (ValueError, KeyError, TypeError) as exc:
        raise EncoderLoadError(
            f"cannot build a {model_type!r} decoder from the saved description ({exc}); this "
            "transformers version may not support it"
        ) from None


def decoder_width(model: Any) -> int:
    """Size of the decoder's input embeddings (the prefix vectors' size)."""
    return int(model.get_input_embeddings().embedding_dim)


def decoder_positions(model: Any) -> int | None:
    """The longest input the decoder has position embeddings for (None: no such limit recorded)."""
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(model.config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
