"""Write randomly initialised CLIP / Chinese-CLIP checkpoints of real architectures in HF layout.

No pretrained CLIP weights can be downloaded on these machines, but the loading code must be the real
one. These checkpoints have the exact shapes, configs, tokenizer files and preprocessor configs of the
published models, so ``create_encoder("clip:<dir>")`` exercises the same code path a user's download
would, and benchmarks measure real compute.

Architectures (:data:`ARCHITECTURES`):

* ``clip-vit-b-32`` — openai/clip-vit-base-patch32: ViT-B/32 (768 wide, 12 layers, 224 px) and a
  512-wide 12-layer text transformer, 512-d projection (~151M parameters).
* ``chinese-clip-vit-b-16`` — OFA-Sys/chinese-clip-vit-base-patch16: ViT-B/16 and a BERT-base text
  tower (768 wide, 12 layers, vocabulary 21128), 512-d projection (~188M parameters).
* ``clip-tiny`` / ``chinese-clip-tiny`` — the same families 32 wide with 2 layers, for fast tests.
* ``chinese-clip-small`` — a Chinese-CLIP 128 wide with 2 layers per tower, 112-px images in 14-px
  patches (8 x 8), 256-d projection, the full BERT vocabulary (3.66M parameters): trainable from
  scratch on 2 CPU cores (the ``uniclip-small`` preset).

Tokenizers: pass the real vocabularies when you have them (CLIP's ``bpe_simple_vocab_16e6.txt.gz``, the
Chinese BERT ``vocab.txt``). Without them a stand-in is written: CLIP BPE with no merges (every character
is a token) and a BERT vocabulary of the special tokens, ASCII and the CJK Unified Ideographs — valid
tokenizers of the same classes, with a different segmentation from the published ones.

Example::

    >>> merges = "bpe_simple_vocab_16e6.txt.gz"
    >>> save_random_clip("/tmp/vitb32", "clip-vit-b-32", bpe_merges=merges)  # doctest: +SKIP
    >>> create_encoder("clip:/tmp/vitb32")                                  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError, DataFormatError

#: cn_clip's BERT-Base Chinese vocabulary (21,128 tokens; the Chinese-CLIP converter's default and the
#: ``chinese-clip-small`` random architecture's)
CN_CLIP_VOCAB_FILE = Path(__file__).with_name("cn_clip_vocab.txt")

# CLIP's BPE keeps the first 49152 - 256 - 2 merges of the published merge list (its line 0 is a header)
CLIP_NUM_MERGES = 49152 - 256 - 2
CLIP_BOS = "<|startoftext|>"
CLIP_EOS = "<|endoftext|>"
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# openai/clip-vit-base-patch32 (values of its published config.json, including the legacy token ids
# bos 0 / eos 2 that make transformers pool the text at the argmax of the ids, i.e. at <|endoftext|>)
_CLIP_VIT_B32: dict[str, Any] = {
    "text_config": {
        "vocab_size": 49408,
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
    },
    "vision_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": 32,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    },
    "projection_dim": 512,
    "logit_scale_init_value": 2.6592,
}

# OFA-Sys/chinese-clip-vit-base-patch16
_CHINESE_CLIP_VIT_B16: dict[str, Any] = {
    "text_config": {
        "vocab_size": 21128,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    },
    "vision_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": 16,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
        "projection_dim": 512,
    },
    "projection_dim": 512,
    "logit_scale_init_value": 2.6592,
}


def _tiny(base: dict[str, Any], *, image_size: int, patch_size: int, text_positions: int) -> dict[str, Any]:
    text = {**base["text_config"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    text.update(num_attention_heads=2, max_position_embeddings=text_positions)
    vision = {**base["vision_config"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    vision.update(num_attention_heads=2, image_size=image_size, patch_size=patch_size)
    if "projection_dim" in vision:
        vision["projection_dim"] = 32
    return {**base, "text_config": text, "vision_config": vision, "projection_dim": 32}


def _small(base: dict[str, Any]) -> dict[str, Any]:
    text = {**base["text_config"], "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2}
    # BERT's std 0.02 makes every [CLS] output nearly the same at init (pairwise cosine 0.9996 on the covers
    # titles), so from scratch the contrastive loss sits at ln(batch); 0.1 gives cosine 0.90 +- 0.035
    text.update(num_attention_heads=2, max_position_embeddings=64, initializer_range=0.1)
    vision = {**base["vision_config"], "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2}
    vision.update(num_attention_heads=2, image_size=112, patch_size=14, projection_dim=256)
    return {**base, "text_config": text, "vision_config": vision, "projection_dim": 256}


#: name -> (family, HF config kwargs)
ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "clip-vit-b-32": ("clip", _CLIP_VIT_B32),
    "chinese-clip-vit-b-16": ("chinese_clip", _CHINESE_CLIP_VIT_B16),
    "clip-tiny": ("clip", _tiny(_CLIP_VIT_B32, image_size=32, patch_size=8, text_positions=77)),
    "chinese-clip-tiny": (
        "chinese_clip",
        _tiny(_CHINESE_CLIP_VIT_B16, image_size=32, patch_size=8, text_positions=64),
    ),
    "chinese-clip-small": ("chinese_clip", _small(_CHINESE_CLIP_VIT_B16)),
}


def save_random_clip(
    out_dir: str | Path,
    arch: str = "clip-vit-b-32",
    *,
    seed: int = 0,
    bpe_merges: str | Path | None = None,
    bert_vocab: str | Path | None = None,
) -> Path:
    """Build a randomly initialised ``arch`` model and save it with tokenizer and preprocessor files.

    Args:
        out_dir: directory to write (created; existing files of the same names are overwritten).
        arch: one of :data:`ARCHITECTURES`.
        seed: torch seed for the initialisation (the global RNG state is restored afterwards).
        bpe_merges: CLIP's ``bpe_simple_vocab_16e6.txt.gz`` (or an uncompressed copy); CLIP families only.
        bert_vocab: a BERT ``vocab.txt``; Chinese-CLIP families only.

    Returns the directory, loadable with ``create_encoder(f"clip:{out_dir}")`` and ``from_pretrained``.
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    family, kwargs = ARCHITECTURES[arch]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    import transformers

    image_size = int(kwargs["vision_config"]["image_size"])
    vocab_size = int(kwargs["text_config"]["vocab_size"])
    model_class: Any
    if family == "clip":
        if bert_vocab is not None:
            raise ConfigError(f"{arch!r} uses a CLIP BPE tokenizer; pass bpe_merges, not bert_vocab")
        tokenizer = write_clip_tokenizer(out, bpe_merges)
        config: Any = transformers.CLIPConfig(**kwargs)
        model_class = transformers.CLIPModel
        preprocessor = _clip_preprocessor(image_size)
    else:
        if bpe_merges is not None:
            raise ConfigError(f"{arch!r} uses a BERT tokenizer; pass bert_vocab, not bpe_merges")
        tokenizer = write_bert_tokenizer(out, bert_vocab)
        config = transformers.ChineseCLIPConfig(**kwargs)
        model_class = transformers.ChineseCLIPModel
        preprocessor = chinese_clip_preprocessor(image_size)
    if len(tokenizer) > vocab_size:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but {arch!r} embeds only {vocab_size}")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    # not model.save_pretrained: under torch.distributed it writes on rank 0 only, and every rank of a
    # training run builds its own random-clip towers
    from safetensors.torch import save_model

    config.save_pretrained(out)
    save_model(model, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n", encoding="utf-8")
    return out


def _clip_preprocessor(size: int) -> dict[str, Any]:
    # the layout of openai/clip-vit-base-patch32's preprocessor_config.json (legacy int sizes included)
    return {
        "crop_size": size,
        "do_center_crop": True,
        "do_normalize": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": _CLIP_MEAN,
        "image_std": _CLIP_STD,
        "resample": 3,
        "size": size,
    }


def chinese_clip_preprocessor(size: int) -> dict[str, Any]:
    """preprocessor_config.json of a Chinese-CLIP model: cn_clip's bicubic squash-resize to size x size,
    no centre crop, CLIP mean/std (transformers' default Chinese-CLIP processor would centre-crop)."""
    return {
        "crop_size": {"height": size, "width": size},
        "do_center_crop": False,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": _CLIP_MEAN,
        "image_processor_type": "ChineseCLIPImageProcessor",
        "image_std": _CLIP_STD,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"height": size, "width": size},
    }


def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable character table (256 entries, in vocabulary order).

    Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, ...) map to
    ``chr(256 + n)`` in byte order, so BPE never sees whitespace or control characters.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


def read_clip_merges(path: str | Path) -> list[tuple[str, str]]:
    """The merges CLIP uses from ``bpe_simple_vocab_16e6.txt[.gz]``: lines 1..48894, each ``"a b"``."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"cannot read the CLIP merges file ({exc})", path=path) from None
    lines = raw.decode("utf-8").split("\n")[1 : CLIP_NUM_MERGES + 1]
    merges: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=2):
        parts = line.split()
        if len(parts) != 2:
            raise DataFormatError(
                "expected a merge of two symbols separated by a space", path=path, line=number
            )
        merges.append((parts[0], parts[1]))
    if len(merges) != CLIP_NUM_MERGES:
        raise DataFormatError(
            f"expected {CLIP_NUM_MERGES} merges after the header line, found {len(merges)}", path=path
        )
    return merges


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's vocabulary: 256 byte symbols, the same with ``</w>``, one token per merge, then bos and eos."""
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in merges), CLIP_BOS, CLIP_EOS]
    return {token: index for index, token in enumerate(tokens)}


def write_clip_tokenizer(out_dir: str | Path, bpe_merges: str | Path | None = None) -> Any:
    """Write a ``CLIPTokenizer`` (vocab.json, merges.txt, tokenizer.json, configs) into ``out_dir``."""
    from transformers import CLIPTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merges = read_clip_merges(bpe_merges) if bpe_merges is not None else []
    vocab = clip_vocab(merges)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    tokenizer = CLIPTokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]  # tokenizers takes (a, b) pairs
        unk_token=CLIP_EOS,
        bos_token=CLIP_BOS,
        eos_token=CLIP_EOS,
        pad_token=CLIP_EOS,
        model_max_length=77,
    )
    tokenizer.save_pretrained(out)
    return tokenizer


def write_bert_tokenizer(out_dir: str | Path, vocab_file: str | Path | None = None) -> Any:
    """Write a lower-casing ``BertTokenizer`` (vocab.txt, tokenizer.json, configs) into ``out_dir``."""
    from transformers import BertTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if vocab_file is not None:
        try:
            tokens = Path(vocab_file).read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise DataFormatError(f"cannot read the BERT vocabulary ({exc})", path=vocab_file) from None
        tokens = tokens[:-1] if tokens and tokens[-1] == "" else tokens
    else:
        tokens = _stand_in_bert_vocab()
    vocab = {token: index for index, token in enumerate(tokens)}
    missing = [s for s in BERT_SPECIALS if s not in vocab]
    if missing:
        raise DataFormatError(f"the BERT vocabulary lacks the special tokens {missing}", path=vocab_file)
    (out / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    tokenizer.save_pretrained(out)
    return tokenizer


def _stand_in_bert_vocab() -> list[str]:
    ascii_chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    continuations = ["##" + c for c in ascii_chars]  # so that English words split into letters, not [UNK]
    cjk = [chr(c) for c in range(0x4E00, 0x9FA6)]  # CJK Unified Ideographs, the block BERT-Chinese covers
    return [*BERT_SPECIALS, *ascii_chars, *continuations, *cjk]


def load_random_clip(
    name: str,
    arch: str,
    *,
    seed: int = 0,
    device: str | None = None,
    dtype: Any = None,
    max_length: int | None = None,
) -> Any:
    """``random-clip:<arch>[@seed]``: a randomly initialised ``arch`` loaded through ``clip:`` (the real
    loading code), written to a temporary folder first. Chinese-CLIP architectures get cn_clip's BERT
    vocabulary (the same ids as the published models), CLIP ones the stand-in BPE. Same seed, same weights.
    """
    import dataclasses
    import tempfile

    from memesearch.models.encoders.hf_clip import load_hf_clip

    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"unknown architecture {arch!r} in {name!r}; expected one of {', '.join(ARCHITECTURES)}"
        )
    vocab: dict[str, Any] = {}
    if ARCHITECTURES[arch][0] == "chinese_clip":
        vocab = {"bert_vocab": CN_CLIP_VOCAB_FILE}
    with tempfile.TemporaryDirectory(prefix="random-clip-") as tmp:
        save_random_clip(tmp, arch, seed=seed, **vocab)
        encoder = load_hf_clip(name, tmp, device=device, dtype=dtype, max_length=max_length)
    encoder.config = dataclasses.replace(
        encoder.config, source="random", extra={**encoder.config.extra, "arch": arch, "seed": seed}
    )
    return encoder
