"""``memesearch caption --dataset DIR --out DIR``: a copy of a dataset with generated captions (what IEF did
with a VLM), written in the native format; the media are not copied (item paths point at the originals).

Each captioned item records what was generated apart from what was given::

    meta.generated_captions = [{"text": .., "lang": .., "score": ..}, ...]   one per captioner language
    meta.captioner          = {"name": .., "version": ..}

and the captions themselves are appended to ``captions`` (``meta.caption_langs`` extended when the item
had one), or, with ``--replace-captions``, replace them (``meta.caption_kind = "generated"``): then the copy
holds what a plain folder of images would give a search engine, and oracle names are gone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.caption.captioner import Captioner
    from memesearch.caption.decoding import DecodeConfig
    from memesearch.data.records import Item

log = logging.getLogger(__name__)


def caption_dataset(
    captioner: Captioner,
    source: Path,
    out: Path,
    splits: list[str] | None,
    decode: DecodeConfig,
    replace: bool,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Caption the items of ``splits`` (default: all) and write the copy to ``out``; returns a summary."""
    from memesearch.data.formats import read_dataset, write_dataset
    from memesearch.data.records import Dataset, Split
    from memesearch.enrich.media import MediaError, decode_media

    started = time.perf_counter()
    ds = read_dataset(source)
    chosen = splits or ds.split_names
    unknown = [s for s in chosen if s not in ds]
    if unknown:
        raise ConfigError(
            f"{source} has no split {', '.join(unknown)}; its splits: {', '.join(ds.split_names)}"
        )
    covers: dict[Path, Any] = {}
    failed: dict[Path, str] = {}
    for name in chosen:
        for it in ds[name].items:
            path = it.resolve_path(ds.root)
            if path is None or path in covers or path in failed:
                continue
            try:
                covers[path] = decode_media(path, max_frames=1).frames[0]
            except MediaError as exc:
                failed[path] = f"[{exc.reason}] {exc.message}"
                log.warning("not captioned: %s", exc)
    langs = [decode.lang] if decode.lang else list(captioner.languages)
    generated: dict[Path, list[dict[str, Any]]] = {p: [] for p in covers}
    order = list(covers)
    for code in langs:
        out_captions = captioner.caption(
            [covers[p] for p in order], dataclasses.replace(decode, lang=code), batch_size=batch_size
        )
        for path, captions in zip(order, out_captions, strict=True):
            generated[path].append(
                {"text": captions[0].text, "lang": code, "score": round(captions[0].score, 4)}
            )
    stamp = {"name": captioner.name, "version": captioner.version}
    new_splits = {}
    for name, part in ds.splits.items():
        if name not in chosen:
            new_splits[name] = part
            continue
        items = []
        for it in part.items:
            path = it.resolve_path(ds.root)
            items.append(_with_captions(it, generated[path], stamp, replace) if path in generated else it)
        new_splits[name] = Split(name, items=items, queries=part.queries)
    meta = {**ds.meta, "generated_captions": {**stamp, "splits": chosen, "replace": replace}}
    copy = Dataset(name=ds.name, splits=new_splits, root=ds.root, meta=meta)
    written = write_dataset(copy, out, "native")
    seconds = time.perf_counter() - started
    return {
        "out": str(written),
        "captioned": len(covers),
        "failed": {str(p): why for p, why in failed.items()},
        "languages": langs,
        "seconds": round(seconds, 1),
        "message": f"captioned {len(covers)} images in {', '.join(langs)} ({len(failed)} failed) in "
        f"{seconds:.1f} s; copy written to {written}",
    }


def _with_captions(item: Item, generated: list[dict[str, Any]], stamp: dict[str, str], replace: bool) -> Item:
    """The item with its generated captions (module docstring)."""
    meta = {**item.meta, "generated_captions": generated, "captioner": stamp}
    texts = [g["text"] for g in generated if g["text"]]
    if replace:
        meta.update(caption_kind="generated", caption_langs=[g["lang"] for g in generated if g["text"]])
        meta.pop("oracle_captions", None)
        return dataclasses.replace(item, captions=texts, meta=meta)
    langs = item.meta.get("caption_langs")
    if isinstance(langs, list) and len(langs) == len(item.captions):
        meta["caption_langs"] = [*langs, *(g["lang"] for g in generated if g["text"])]
    return dataclasses.replace(item, captions=[*item.captions, *texts], meta=meta)
