"""Original Chinese-CLIP / QA-CLIP / UniCLIP checkpoints -> a Hugging Face ``ChineseCLIPModel`` folder.

The original repositories (OFA-Sys/Chinese-CLIP and its forks QA-CLIP and CBVS-UniCLIP) save
``{"epoch", "step", "state_dict"}`` (plus ``"name"`` and ``"optimizer"`` when written by training) with
DDP's ``module.`` prefix on every key:

* ``visual.*`` — an OpenAI-style ViT: ``conv1`` (patch embedding, no bias), ``class_embedding``,
  ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.{i}`` (``attn.in_proj_*`` holding q, k, v
  stacked, ``attn.out_proj``, ``ln_1``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_2``; QuickGELU), ``ln_post``
  and ``proj`` (width x embed, applied as ``x @ proj``);
* ``bert.*`` — a BERT text tower with the Hugging Face parameter names (``bert.pooler.*`` unused);
* ``text_projection`` (hidden x embed) and ``logit_scale``;
* UniCLIP only: training heads ``ocr_presence_*`` / ``ocr_semantic_*`` (``ocr_exist_*`` /
  ``ocr_content_*`` in the released file), ``ln_ocr_*``, ``proj_ocr_*``, ``bert_embedding.*`` and
  ``decoder_class_embedding``; dropped, or written aside with ``keep_heads=True``.

Checkpoints written with FlashAttention (``attn.Wqkv.*``; BERT ``attention.self.Wqkv.*`` and
``attention.self.out_proj.*``) are read too. Every tensor is written as float32.

The architecture comes from the tensor shapes (attention heads = width / 64 as in cn_clip's configs; a
1280-wide ViT is ViT-H-14, whose heads are 80 wide), or from ``arch``, one of cn_clip's published
architectures (:data:`ARCHITECTURES`), whose shapes must then match. The folder also gets cn_clip's
BERT vocabulary (the same token ids) and an image processor that reproduces cn_clip's preprocessing:
a bicubic squash-resize to the input resolution, no centre crop, CLIP mean/std.

Example::

    >>> convert_cn_clip("QA-CLIP-base.pt", "qa-clip-b16")        # doctest: +SKIP
    >>> create_encoder("clip:qa-clip-b16", max_length=52)         # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.convert.cn_clip_arch import CnClipArch, infer_arch, named_arch
from memesearch.models.encoders.random_checkpoints import CN_CLIP_VOCAB_FILE

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: cn_clip's BERT vocabulary (21128 WordPieces, identical to cn_clip/clip/vocab.txt and BERT-Base Chinese)
VOCAB_FILE = CN_CLIP_VOCAB_FILE  # the BERT-Base Chinese vocabulary shipped with the encoders
HEADS_FILE = "training_heads.safetensors"
CONVERSION_FILE = "conversion.json"

# UniCLIP's training-only heads; the released checkpoint still uses the first names ("exist", "content")
_HEAD_PREFIXES = ("ocr_", "ln_ocr_", "proj_ocr_", "bert_embedding.", "decoder_class_embedding")
_HEAD_RENAMES = (("exist", "presence"), ("content", "semantic"))


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert_cn_clip` wrote."""

    out_dir: Path
    arch: CnClipArch
    inferred: bool  # True: from the shapes; False: named by the caller
    tensors: int  # tensors in model.safetensors
    dropped: dict[str, int]  # what was left out, by kind: "training heads", "bert.pooler", "optimizer"
    heads_file: Path | None
    metadata: dict[str, Any]  # epoch, step, name of the original checkpoint (when present)


# -- reading ----------------------------------------------------------------------------------------


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load an original-format checkpoint with ``weights_only=True`` (no pickled code is run).

    Returns the state dict with the ``module.`` prefix removed and the other top-level entries
    (``epoch``, ``step``, ``name``, ``optimizer``...). A bare state dict is accepted too.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataFormatError("checkpoint file not found", path=path)
    try:
        with warnings.catch_warnings():  # torch warns before refusing a TorchScript archive; we explain it
            warnings.filterwarnings("ignore", message=".*TorchScript archive")
            # memory-mapped when the file is a zip archive (torch >= 1.6): a 4 GB ViT-H is not read twice
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # torch raises RuntimeError, OSError, KeyError, UnpicklingError... for bad files
        raise DataFormatError(_load_failure(exc), path=path) from None
    if not isinstance(obj, dict):
        raise DataFormatError(
            f"expected a checkpoint dict with a 'state_dict', got a {type(obj).__name__}", path=path
        )
    raw = obj.get("state_dict", obj)
    if not isinstance(raw, dict) or not raw:
        raise DataFormatError("the checkpoint's 'state_dict' is empty or not a dict", path=path)
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            if raw is obj:  # a bare dict: only tensors may be in it
                raise DataFormatError(
                    f"expected a dict with a 'state_dict' of tensors, found the entry {key!r} "
                    f"({type(value).__name__})",
                    path=path,
                )
            continue
        state[str(key).removeprefix("module.")] = value
    meta = {str(k): v for k, v in obj.items() if k != "state_dict"} if raw is not obj else {}
    return state, meta


def _load_failure(exc: Exception) -> str:
    """One line for torch.load's failure (its weights_only messages run over several lines)."""
    full = " ".join(str(exc).split())
    detail = re.search(r"WeightsUnpickler error: (.*?)(?: Please use| Check the documentation|$)", full)
    text = (detail[1] if detail else full or type(exc).__name__)[:160].rstrip(". ")
    if "TorchScript" in full:
        return (
            "a TorchScript archive (e.g. OpenAI's released CLIP .pt), not an original Chinese-CLIP "
            "checkpoint {'epoch', 'step', 'state_dict'}"
        )
    if "Unsupported global" in full:
        return f"the checkpoint holds Python objects that loading with weights_only=True refuses ({text})"
    return f"cannot read the checkpoint: the file is truncated or not a torch checkpoint ({text})"


# -- what kind of checkpoint ------------------------------------------------------------------------


def split_heads(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(dual-encoder tensors, UniCLIP training-head tensors with the released names made current)."""
    towers: dict[str, torch.Tensor] = {}
    heads: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(_HEAD_PREFIXES):
            for old, new in _HEAD_RENAMES:
                key = key.replace(old, new)
            heads[key] = value
        else:
            towers[key] = value
    return towers, heads


def check_kind(state: dict[str, torch.Tensor], path: str | Path = "") -> None:
    """Raise a one-line :class:`DataFormatError` unless ``state`` is a cn_clip ViT model."""
    keys = list(state)
    if any(k.startswith(("vision_model.", "text_model.")) for k in keys):
        raise DataFormatError(
            "already in Hugging Face layout (vision_model.*, text_model.*): load its folder with "
            "clip:<dir>, no conversion needed",
            path=path,
        )
    if any(
        k in ("token_embedding.weight", "ln_final.weight") or k.startswith(("transformer.", "text."))
        for k in keys
    ):
        raise DataFormatError(
            "an OpenAI CLIP / open_clip checkpoint (text tower transformer.*, token_embedding), not an "
            "original Chinese-CLIP one (bert.*); load that model's Hugging Face release with clip:<dir>",
            path=path,
        )
    if any(k.startswith(("visual.layer1.", "visual.attnpool.")) for k in keys):
        raise DataFormatError(
            "a Chinese-CLIP RN50 checkpoint: transformers' ChineseCLIPModel has no ResNet image tower, "
            "so only the ViT models (ViT-B-16, ViT-L-14, ViT-L-14-336, ViT-H-14) can be converted",
            path=path,
        )
    missing = [
        k
        for k in ("visual.conv1.weight", "bert.embeddings.word_embeddings.weight", "text_projection")
        if k not in state
    ]
    if missing:
        sample = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
        raise DataFormatError(
            f"not an original Chinese-CLIP checkpoint: no {', '.join(missing)} (its keys: {sample})",
            path=path,
        )


def normalise_flash_attention(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints trained with FlashAttention -> the standard key layout (a new dict, same tensors)."""
    import torch

    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        text = re.match(r"(bert\.encoder\.layer\.\d+\.attention\.)self\.(Wqkv|out_proj)\.(weight|bias)$", key)
        if text is None:
            out[key.replace("attn.Wqkv.", "attn.in_proj_")] = value
        elif text[2] == "out_proj":
            out[f"{text[1]}output.dense.{text[3]}"] = value
        else:
            for name, part in zip(("query", "key", "value"), torch.chunk(value, 3, dim=0), strict=True):
                out[f"{text[1]}self.{name}.{text[3]}"] = part
    return out


# -- mapping ----------------------------------------------------------------------------------------

_VISION_BLOCK = {
    "attn.out_proj": "self_attn.out_proj",
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}
_VISION = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "logit_scale": "logit_scale",
}
_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
_UNUSED = ("bert.pooler.", "bert.embeddings.position_ids")


def map_to_hf(
    state: dict[str, torch.Tensor], *, progress: bool = False, path: str | Path = ""
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """cn_clip names -> ``ChineseCLIPModel`` names, float32, each in its own contiguous storage (safetensors
    refuses tensors that share memory, like the q, k, v views of one matrix). Returns (tensors, dropped
    counts); raises :class:`DataFormatError` for a tensor that has no place in the model."""
    import torch

    from memesearch.utils.io import progress_iter

    out: dict[str, torch.Tensor] = {}
    dropped: dict[str, int] = {}
    unknown: list[str] = []
    for key, value in progress_iter(state.items(), len(state), "converting tensors", enabled=progress):
        value = value.to(torch.float32)
        # (block index, module, weight|bias); q, k, v are stacked in attn.in_proj_weight / in_proj_bias
        block = re.match(r"visual\.transformer\.resblocks\.(\d+)\.(.+)[._](weight|bias)$", key)
        if key in _VISION:
            out[_VISION[key]] = _own(value)
        elif key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = _own(value.t())
        elif key.startswith("bert.") and not key.startswith(_UNUSED):
            out["text_model." + key.removeprefix("bert.")] = _own(value)
        elif key.startswith(_UNUSED):
            dropped["bert.pooler"] = dropped.get("bert.pooler", 0) + 1
        elif block and block[2] == "attn.in_proj":
            prefix = f"vision_model.encoder.layers.{block[1]}.self_attn"
            for name, part in zip("qkv", torch.chunk(value, 3, dim=0), strict=True):
                out[f"{prefix}.{name}_proj.{block[3]}"] = _own(part)
        elif block and block[2] in _VISION_BLOCK:
            out[f"vision_model.encoder.layers.{block[1]}.{_VISION_BLOCK[block[2]]}.{block[3]}"] = _own(value)
        else:
            unknown.append(key)
    if unknown:
        raise DataFormatError(
            f"not an original Chinese-CLIP checkpoint: {len(unknown)} tensors have no place in the model "
            f"(e.g. {', '.join(unknown[:3])})",
            path=path,
        )
    return out, dropped


def _own(value: torch.Tensor) -> torch.Tensor:
    """A contiguous copy (a float32 tensor read memory-mapped would otherwise keep pointing into the file)."""
    return value.contiguous().clone()


def check_shapes(
    tensors: dict[str, torch.Tensor], arch: CnClipArch, config: Any, path: str | Path = ""
) -> None:
    """Compare every tensor with the ``ChineseCLIPModel`` of ``config`` (built on the meta device, so no
    memory is used); raise a one-line error on the first mismatch, missing or extra tensor."""
    import torch
    import transformers

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in transformers.ChineseCLIPModel(config).state_dict().items()}
    label = arch.name if arch.name != "inferred" else "the architecture inferred from its shapes"
    for key, shape in expected.items():
        if key not in tensors:
            raise DataFormatError(f"the checkpoint lacks {_original_name(key)} that {label} needs", path=path)
        if tuple(tensors[key].shape) != shape:
            raise DataFormatError(
                f"mismatched shapes: {_original_name(key)} is {tuple(tensors[key].shape)}, {label} expects "
                f"{shape} (in Hugging Face layout)",
                path=path,
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise DataFormatError(
            f"mismatched shapes: {len(extra)} tensors beyond {label} (e.g. {_original_name(extra[0])})",
            path=path,
        )


def _original_name(hf_key: str) -> str:
    """A readable cn_clip-side name for an HF key, for error messages."""
    for table in (_VISION, _TRANSPOSED):
        for old, new in table.items():
            if new == hf_key:
                return old
    if hf_key.startswith("text_model."):
        return "bert." + hf_key.removeprefix("text_model.")
    match = re.match(r"vision_model\.encoder\.layers\.(\d+)\.(.+)$", hf_key)
    if match:
        rest = re.sub(r"self_attn\.[qkv]_proj\.", "attn.in_proj_", match[2])
        for old, new in _VISION_BLOCK.items():
            rest = rest.replace(new, old)
        return f"visual.transformer.resblocks.{match[1]}.{rest}"
    return hf_key


# -- writing ----------------------------------------------------------------------------------------


def convert_cn_clip(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    arch: str | None = None,
    vocab: str | Path | None = None,
    keep_heads: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> ConversionResult:
    """Convert an original cn_clip-format checkpoint into a ``clip:``-loadable folder ``out_dir``.

    Args:
        checkpoint: the ``.pt`` file (Chinese-CLIP, QA-CLIP or UniCLIP).
        out_dir: the folder to create; it appears complete or not at all (written beside, then renamed).
        arch: a published architecture name (:data:`ARCHITECTURES`; ``RN50`` is refused); default: inferred.
        vocab: the BERT ``vocab.txt``; default: cn_clip's (:data:`VOCAB_FILE`).
        keep_heads: write UniCLIP's training heads to ``training_heads.safetensors`` instead of dropping them.
        overwrite: replace an existing non-empty ``out_dir``.
        progress: show a progress bar over the tensors.

    Raises :class:`DataFormatError` (not a cn_clip checkpoint, truncated, mismatched shapes) or
    :class:`ConfigError` (unknown ``arch``, ``out_dir`` exists) with a one-line message.
    """
    import transformers

    from memesearch.models.encoders.random_checkpoints import chinese_clip_preprocessor, write_bert_tokenizer
    from memesearch.utils.io import atomic_dir, atomic_write_json

    named = named_arch(arch)
    out = Path(out_dir)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} already exists and is not empty; pass --overwrite to replace it")
    vocab_path = Path(vocab) if vocab is not None else VOCAB_FILE
    vocab_size = _vocab_size(vocab_path)

    state, meta = read_checkpoint(checkpoint)
    towers, heads = split_heads(state)
    towers = normalise_flash_attention(towers)
    check_kind(towers, checkpoint)
    inferred = infer_arch(towers, checkpoint)
    chosen = named if named is not None else inferred
    if vocab_size > chosen.vocab_size:
        raise DataFormatError(
            f"the vocabulary has {vocab_size} tokens but the model embeds only {chosen.vocab_size}",
            path=vocab_path,
        )
    config = transformers.ChineseCLIPConfig(**chosen.hf_config())
    tensors, dropped = map_to_hf(towers, progress=progress, path=checkpoint)
    check_shapes(tensors, chosen, config, checkpoint)
    if heads and not keep_heads:
        dropped["training heads"] = len(heads)
    if isinstance(meta.get("optimizer"), dict):
        dropped["optimizer"] = 1
    info = {k: meta[k] for k in ("epoch", "step", "name") if isinstance(meta.get(k), int | str)}

    from safetensors.torch import save_file

    try:
        with atomic_dir(out, replace=overwrite) as tmp:
            config.save_pretrained(tmp)
            save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
            write_bert_tokenizer(tmp, vocab_path)
            atomic_write_json(tmp / "preprocessor_config.json", chinese_clip_preprocessor(chosen.image_size))
            if keep_heads and heads:
                save_file(
                    {k: v.float().contiguous().clone() for k, v in heads.items()},
                    str(tmp / HEADS_FILE),
                    metadata={"format": "pt", "source": "UniCLIP training heads (cn_clip names)"},
                )
            record = {
                "source": str(Path(checkpoint).resolve()),
                "source_bytes": Path(checkpoint).stat().st_size,
                "arch": asdict(chosen) | {"inferred": named is None},
                "checkpoint": info,
                "dropped": dropped,
                "heads_file": HEADS_FILE if keep_heads and heads else None,
                "vocab": {"file": vocab_path.name, "tokens": vocab_size},
            }
            atomic_write_json(tmp / CONVERSION_FILE, record)
    except FileExistsError:
        raise ConfigError(f"{out} already exists and is not empty; pass --overwrite to replace it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc})") from None
    return ConversionResult(
        out_dir=out,
        arch=chosen,
        inferred=named is None,
        tensors=len(tensors),
        dropped=dropped,
        heads_file=out / HEADS_FILE if keep_heads and heads else None,
        metadata=info,
    )


def _vocab_size(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise DataFormatError(f"cannot read the vocabulary ({exc})", path=path) from None
    return len(lines) - (1 if lines and lines[-1] == "" else 0)


def describe(result: ConversionResult) -> Iterable[str]:
    """Human-readable lines about a conversion (for the CLI)."""
    arch = result.arch
    how = "inferred from the shapes" if result.inferred else "as named"
    yield f"wrote {result.out_dir} ({result.tensors} tensors, float32)"
    label = arch.name if arch.name != "inferred" else "custom"
    yield (
        f"architecture {label} ({how}): ViT {arch.vision_layers}x{arch.vision_width}, "
        f"{arch.vision_heads} heads, patch {arch.vision_patch}, {arch.image_size} px; "
        f"BERT {arch.text_layers}x{arch.text_hidden}, {arch.text_heads} heads; embedding {arch.embed_dim}"
    )
    if result.metadata:
        yield "checkpoint " + ", ".join(f"{k} {v}" for k, v in result.metadata.items())
    if result.dropped:
        yield "left out: " + ", ".join(f"{k} ({v})" for k, v in result.dropped.items())
    if result.heads_file is not None:
        yield f"training heads kept in {result.heads_file}"
    yield f"load it with: clip:{result.out_dir}  (cn_clip's text length is 52: max_length=52)"
