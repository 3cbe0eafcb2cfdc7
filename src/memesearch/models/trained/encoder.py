"""``checkpoint:<run>``: a training run of ``memesearch train`` served as an encoder.

``memesearch index FOLDER --model checkpoint:runs/qi`` indexes with the checkpoint the run selected on
validation (its ``best``, else its ``last``; a checkpoint directory may be named directly), rebuilt from
what the checkpoint records (its ``config.json``: task and ``task_config``) and its weights — without
importing training. What each Task gives the product:

==================  =========================================================================================
``clip4meme-qi``    image branch: items = image + emotion gate + co-attention over the item's context text
                    (captions, then OCR: what the index reads), queries = the trained query tower
                    (:meth:`~memesearch.models.encoders.base.Encoder.encode_image_queries`); text branch:
                    the frozen CLIP text tower the run holds (pretrained; queries and passages).
``clip4meme-qc``    the same image branch (the stage-1 model it holds, frozen); text branch: its QC tower.
``starter``         the starter network (image tower + emotion gate) with its text encoder (``e5-small``),
                    as ``starter:<exported dir>`` would load it.
``ief``             image branch: late interaction (``wti``) over each item's stored tokens, candidates by
                    its CLS vector (:mod:`memesearch.models.trained.ief`); text branch: the caption
                    transformer (stage qc) or the pooled CLIP text tower (stage qi).
==================  =========================================================================================

The scores an index built this way serves are the scores ``memesearch evaluate --compare --checkpoint RUN``
computes for the same items and queries (tested to 1e-5): the same modules
(:mod:`memesearch.models.clip4meme`), the same item inputs, the same tokenisation.

Example::

    >>> enc = create_encoder("checkpoint:runs/qi")                                   # doctest: +SKIP
    >>> items = enc.encode_items(["a.png"], [["happy"]], texts=[["so tired"]])       # doctest: +SKIP
    >>> enc.encode_image_queries(["sleepy"]) @ items.T                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.models.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    TextKind,
    package_versions,
)
from memesearch.models.encoders.images import ImageInput, load_image
from memesearch.models.trained.layout import MODEL_FILE, read_checkpoint_info, served_checkpoint
from memesearch.models.trained.towers import base_towers, cast_preprocess
from memesearch.utils.io import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

#: the Tasks whose runs ``checkpoint:`` serves
SERVED_TASKS: tuple[str, ...] = ("clip4meme-qi", "clip4meme-qc", "ief", "starter", "object-guided")


class Clip4MemeEncoder(Encoder):
    """A trained CLIP4Meme model (stage 1 or 2) behind the encoder API (module docstring)."""

    separate_image_queries = True

    def __init__(
        self,
        config: EncoderConfig,
        model: Any,
        tokenize: Any,
        arch: Any,
        preprocess: Callable[[Any], Tensor],
        device: Any,
    ) -> None:
        self.config = config
        self.model = model
        self.tokenize = tokenize
        self.arch = arch
        self.device = device
        self.preprocess = preprocess
        self._pixels = preprocess
        self.tokenizer = tokenize.tokenizer
        self.has_qc = hasattr(model, "qc_text")

    # ---- text branch: the QC tower (stage 2) or the frozen pretrained text tower (stage 1)

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        ids, mask = self.tokenize(texts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.no_grad():
            if self.has_qc:
                vec = self.model.encode_qc_text(ids, mask)
            else:
                vec = F.normalize(self.model.frozen_text_features(ids, mask)[1], dim=-1)
        return np.asarray(vec.float().cpu().numpy())

    # ---- image branch

    def encode_image_queries(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool | None = None
    ) -> np.ndarray:
        """Queries through the trained QI query tower -> ``(N, dim)`` unit float32."""
        import torch

        items = list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), batch_size):
            ids, mask = self.tokenize(items[start : start + batch_size])
            with torch.no_grad():
                vec = self.model.encode_query(ids.to(self.device), mask.to(self.device))
            out[start : start + vec.shape[0]] = vec.float().cpu().numpy()
        return out

    def _encode_image_batch(self, images: list[Any]) -> np.ndarray:
        # an image alone (an image query, the emotion tagger): the QI item embedding with no emotion or text
        return self._items(images, [None] * len(images), [None] * len(images))

    def encode_items(
        self,
        images: Sequence[ImageInput],
        emotions: Sequence[Sequence[str] | None] | None = None,
        *,
        texts: Sequence[Sequence[str] | None] | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Item embeddings as trained: image + emotion gate (``emotions[i]``: item i's words) + co-attention
        over the item's context texts (``texts[i]``: captions, then OCR) -> ``(N, dim)`` unit float32.
        An empty list or None: the item has none (that term is skipped, as in training)."""
        from memesearch.models.clip4meme import emotion_words, item_text

        items = list(images)
        for what, given in (("emotion lists", emotions), ("text lists", texts)):
            if given is not None and len(given) != len(items):
                raise ConfigError(f"got {len(items)} images but {len(given)} {what}; pass one per image")
        none: list[str | None] = [None] * len(items)
        emo = [emotion_words(e or []) for e in emotions] if emotions is not None else none
        txt = [item_text(t or [], self.arch.captions) for t in texts] if texts is not None else none
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), batch_size):
            stop = start + batch_size
            batch = [load_image(x) for x in items[start:stop]]
            out[start : start + len(batch)] = self._items(batch, emo[start:stop], txt[start:stop])
        return out

    def _items(self, images: list[Any], emotions: list[str | None], texts: list[str | None]) -> np.ndarray:
        import torch

        pixels = torch.stack([self._pixels(im) for im in images]).to(self.device)
        with torch.no_grad():
            inputs = self.model.item_inputs(
                self.tokenize,
                emotions if self.arch.use_emotions else None,
                texts if self.arch.use_captions else None,
                n=len(images),
                device=pixels.device,
            )
            vec = self.model.encode_item(pixels, **inputs).embedding
        return np.asarray(vec.float().cpu().numpy())


def _task_settings(info: Mapping[str, Any], where: Path) -> tuple[str, dict[str, Any]]:
    task = info.get("task")
    train_config = info.get("train_config")
    if not isinstance(task, str) or not isinstance(train_config, Mapping):
        raise EncoderLoadError(f"{where}: its config.json records no task and train_config")
    return task, dict(train_config.get("task_config") or {})


def load_checkpoint_encoder(
    name: str,
    path: str | Path,
    *,
    device: str | None = None,
    dtype: Any = None,
    text_encoders: Callable[..., Encoder],
) -> Encoder:
    """The encoder of a training run or checkpoint directory (module docstring).

    ``text_encoders`` is the registry's ``create_encoder`` (the starter's text tower is built through it).
    """
    import torch

    try:
        ckpt = served_checkpoint(path)
    except ConfigError as exc:
        raise EncoderLoadError(f"checkpoint encoder {name!r}: {exc}") from None
    info = read_checkpoint_info(ckpt)
    task, settings = _task_settings(info, ckpt)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if task in ("starter", "object-guided"):
        return _starter(name, ckpt, info, settings, device=device, dtype=dtype, text_encoders=text_encoders)
    if task in ("clip4meme-qi", "clip4meme-qc"):
        return _clip4meme(name, ckpt, info, task, settings, device=device, dtype=dtype)
    if task == "ief":
        from memesearch.models.trained.ief import load_ief

        extra = _provenance(ckpt, info, settings)
        return load_ief(name, ckpt, settings, extra, device=device, dtype=dtype, load_weights=_load_weights)
    raise EncoderLoadError(
        f"{ckpt} is a run of task {task!r}; `checkpoint:` serves runs of {', '.join(SERVED_TASKS)}"
    )


def _provenance(ckpt: Path, info: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "task": info.get("task"),
        "checkpoint": str(ckpt),
        "step": info.get("step"),
        "epoch": info.get("epoch"),
        "val_metrics": info.get("metrics"),
        "dataset": settings.get("dataset"),
        "weights_sha256": sha256_file(ckpt / MODEL_FILE),
    }


def _load_weights(model: Any, ckpt: Path) -> None:
    from safetensors.torch import load_model

    try:
        load_model(model, str(ckpt / MODEL_FILE), strict=True)
    except (RuntimeError, OSError) as exc:
        raise EncoderLoadError(
            f"the weights in {ckpt / MODEL_FILE} do not fit the model its config.json describes: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from None


def _clip4meme(
    name: str,
    ckpt: Path,
    info: Mapping[str, Any],
    task: str,
    settings: Mapping[str, Any],
    *,
    device: str,
    dtype: Any,
) -> Clip4MemeEncoder:
    import torch

    from memesearch.models.clip4meme import Clip4MemeArch, Clip4MemeQC, Clip4MemeQI
    from memesearch.models.clip_towers import TextTokenizer, load_clip
    from memesearch.utils.device import dtype_name, resolve_dtype

    base, parts = base_towers(ckpt, settings, load_clip)
    arch = Clip4MemeArch.from_settings(settings)
    model = (Clip4MemeQC if task == "clip4meme-qc" else Clip4MemeQI)(parts, arch)
    _load_weights(model, ckpt)
    torch_dtype = resolve_dtype(dtype)
    model.to(device=device, dtype=torch_dtype).eval()
    tokenize = TextTokenizer(parts.tokenizer, min(int(settings.get("max_words", 77)), parts.max_positions))
    config = EncoderConfig(
        name=name,
        kind=task,
        source=str(ckpt.resolve()),
        dim=parts.dim,
        normalize=True,
        modalities=("image", "text"),
        max_length=tokenize.max_words,
        image_size=_image_size(parts.model),
        dtype=dtype_name(torch_dtype),
        versions=package_versions("memesearch", "torch", "transformers"),
        extra={
            **_provenance(ckpt, info, settings),
            "base_model": base,
            "architecture": dict(vars(arch)),
            "text_branch": "qc tower" if task == "clip4meme-qc" else "frozen pretrained text tower",
        },
    )
    preprocess = cast_preprocess(parts.preprocess, torch_dtype)
    return Clip4MemeEncoder(config, model, tokenize, arch, preprocess, torch.device(device))


def _image_size(clip: Any) -> int | None:
    size = getattr(getattr(getattr(clip, "config", None), "vision_config", None), "image_size", None)
    return int(size) if size else None


def _starter(
    name: str,
    ckpt: Path,
    info: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    device: str,
    dtype: Any,
    text_encoders: Callable[..., Encoder],
) -> Encoder:
    from memesearch.models.starter.encoder import load_starter

    model = settings.get("model")
    if not isinstance(model, Mapping):
        raise EncoderLoadError(
            f"{ckpt}: its task_config has no 'model' (a starter run from before the architecture was "
            "recorded); export it with `memesearch export RUN --out DIR` and use starter:DIR"
        )
    described = {"model": dict(model), "trained_on": _provenance(ckpt, info, settings)}
    # an object-guided run holds the starter tower (+ its alpha input: whole images go through the plain
    # tower, regions through the tower with their mask)
    return load_starter(
        name,
        weights=ckpt,
        device=device,
        dtype=dtype,
        text_encoders=text_encoders,
        described=described,
        alpha=bool(settings.get("alpha", False)),
        region_context=float(settings.get("context", 0.0)),
    )
