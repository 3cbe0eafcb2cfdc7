"""``memesearch index`` and ``memesearch remove``: build and maintain an index directory."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import typer

from memesearch.errors import ConfigError


def index(
    paths: list[str] = typer.Argument(
        ..., help="Media files, folders (recursive), CSV/JSONL lists or dataset folders to index."
    ),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder (created when new)."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Encoder for a new index (default: starter). An existing index keeps its own.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=0,
        help="Processes for decoding and OCR (default: all cores with OCR, cores-2 without; 0 = none); "
        "with --engine ray: the CPUs of the Ray instance it starts (default: all cores).",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        envvar="MEMESEARCH_ENGINE",
        help="Where decoding, enrichers and the encoder run: 'local' (worker processes here), 'ray' (a Ray "
        "instance started here), 'ray:auto' (the Ray cluster this machine joined) or 'ray:HOST:PORT'. "
        "The index is written here either way.",
    ),
    actors: int | None = typer.Option(
        None, "--actors", min=1, help="--engine ray: actors holding the encoder and enrichers (default 1)."
    ),
    ocr: bool | None = typer.Option(
        None, "--ocr/--no-ocr", help="Read text inside images (new index; default on)."
    ),
    ocr_min_score: float | None = typer.Option(
        None, "--ocr-min-score", help="Keep OCR lines at or above this score."
    ),
    emotions: bool | None = typer.Option(
        None,
        "--emotions/--no-emotions",
        help="Tag emotions zero-shot when the input gives none (default on).",
    ),
    oracle_captions: bool = typer.Option(
        False,
        "--oracle-captions",
        help="Keep captions a benchmark marks as its ground truth (caption_kind=oracle).",
    ),
    image_emotions: bool | None = typer.Option(
        None,
        "--image-emotions/--no-image-emotions",
        help="Tag text-less items with the starter's trained emotion head (new index; off by default: its "
        "precision on an unseen style is 0.50-0.59, README 'Emotions from pixels').",
    ),
    captioner: str | None = typer.Option(
        None,
        "--captioner",
        help="Caption every item with this captioner (starter-caption, a captioner folder or a clipcap "
        "run; new index): generated captions feed the text and lexical branches, kept apart in meta.",
    ),
    objects: str | None = typer.Option(
        None,
        "--objects",
        help="Regions of each item (new index): none (default), boxes (given with the items: native manifest "
        "objects), auto (connected components, no weights) or sam2:<dir or hub id>. Boxes and RLE masks are "
        "kept in the index, one vector per region: search --objects finds items by one object.",
    ),
    max_regions: int | None = typer.Option(
        None,
        "--max-regions",
        min=1,
        max=64,
        help="Regions kept per item, best first (new index; default 16).",
    ),
    region_embedding: str | None = typer.Option(
        None,
        "--region-embedding",
        help="How a region becomes a vector (new index): masked-crop (default), crop or mask-pool.",
    ),
    frame_pooling: str | None = typer.Option(
        None,
        "--frame-pooling",
        help="How the image branch scores animations and videos (new index): best (default: the best "
        "sampled frame, a re-rank of the mean vector's candidates) or mean (the mean vector only).",
    ),
    splits: str | None = typer.Option(
        None, "--splits", help="Dataset folders: only these splits (comma-separated)."
    ),
    source: str | None = typer.Option(None, "--source", help="Source label for items that have none."),
    weights: str | None = typer.Option(
        None, "--weights", help="Fusion weights to record, e.g. image=0.2,text=0.5,lexical=0.3."
    ),
    exact_below: int | None = typer.Option(
        None, "--exact-below", help="Exact search below this many items, HNSW above (new index)."
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Vector store of a new index: faiss (default; files in the index folder), milvus (a milvus-lite "
        "file in the index folder) or milvus:URI (a Milvus server or cluster, e.g. "
        "milvus:http://localhost:19530; token from MEMESEARCH_MILVUS_TOKEN). Recorded in index.json.",
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Remove indexed files under the given folders that are gone."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
) -> None:
    """Index media into INDEX: dedup, OCR, emotions, embeddings, SQLite + a vector store (FAISS or Milvus).

    Re-runs skip unchanged files; a killed run resumes where it stopped. Exits 1 when some inputs could not
    be indexed (each is listed with its reason; the others are indexed).
    """
    from memesearch.index import Index, IndexConfig, parse_weights
    from memesearch.index.vector_store import VectorConfig, parse_store_spec
    from memesearch.ingest import add_paths
    from memesearch.ingest.engine_spec import parse_engine

    # the engine is checked (its options, the cluster answering) before the index is touched
    runner = parse_engine(engine, workers=workers, actors=actors)
    runner.check()
    settings: dict[str, object] = {}
    if store is not None:
        name, location = parse_store_spec(store)  # a bad value fails here, before anything is opened
        settings["vector_store"] = name if location is None else f"{name}:{location}"
    if ocr is not None:
        settings["ocr"] = ocr
    if ocr_min_score is not None:
        settings["ocr_min_score"] = ocr_min_score
    if emotions is not None:
        settings["emotions"] = emotions
    if oracle_captions:
        settings["oracle_captions"] = True
    if image_emotions is not None:
        settings["image_emotions"] = image_emotions
    if captioner is not None:
        settings["captioner"] = captioner
    if objects is not None:
        from memesearch.objects.segmenter import check_objects

        settings["objects"] = check_objects(objects)
    if max_regions is not None:
        settings["max_regions"] = max_regions
    if frame_pooling is not None:
        settings["frame_pooling"] = frame_pooling.strip()
    if region_embedding is not None:
        from memesearch.models.regions import check_region_method

        settings["region_embedding"] = check_region_method(region_embedding)
    if exact_below is not None:
        settings["vectors"] = VectorConfig(exact_below=exact_below)
    if weights:
        settings["weights"] = parse_weights(weights)
    if (index_dir / "index.json").exists():
        idx = Index.open(index_dir, model=model)
        changed = {k: v for k, v in settings.items() if k != "weights" and getattr(idx.config, k) != v}
        if changed:
            idx.close()
            raise ConfigError(
                f"{index_dir} already exists with other settings ({', '.join(sorted(changed))}); "
                "settings are fixed when an index is created — build a new index to change them"
            )
        if "weights" in settings:
            idx.set_weights(settings["weights"])  # type: ignore[arg-type]
    else:
        idx = Index.create(index_dir, config=IndexConfig(model=model or "starter", **settings))  # type: ignore[arg-type]
    show = sys.stderr.isatty() if progress is None else progress
    with idx:
        try:
            summary = add_paths(
                idx,
                paths,
                engine=runner,
                progress=show,
                source=source,
                splits=[s.strip() for s in splits.split(",") if s.strip()] if splits else None,
                prune=prune,
            )
        finally:
            runner.close()
        total = len(idx)
    if json_out:
        typer.echo(json.dumps({**summary.to_dict(), "items_in_index": total}, ensure_ascii=False, indent=2))
        _exit_if_failed(summary.failed)
        return
    typer.echo(
        f"indexed {len(summary.indexed)}, skipped {summary.skipped} unchanged, "
        f"{summary.duplicates} exact duplicates, "
        f"{summary.near_duplicates} near-duplicates, {summary.removed} removed, {len(summary.failed)} failed "
        f"in {summary.seconds:.1f} s; {total} items in {index_dir}"
    )
    if summary.stages:
        typer.echo(
            "stages: "
            + ", ".join(
                f"{name} {st['seconds']:.1f} s" + (f" ({st['items_per_s']:.1f}/s)" if st["items"] else "")
                for name, st in summary.stages.items()
            )
        )
    if summary.engine.get("name") == "ray":
        eng = summary.engine
        startup = eng.get("startup_s")
        typer.echo(
            f"engine: ray at {eng.get('address', 'a Ray instance started here')}: "
            f"{len(eng.get('decoders', []))} decoding process(es), {len(eng.get('actors', []))} encoder "
            f"actor(s) on {eng.get('nodes', 0)} node(s)"
            + (f"; {startup:.1f} s to start Ray / connect" if startup is not None else "")
        )
    for msg in summary.messages:
        typer.echo(f"note: {msg}")
    for f in summary.failed[:50]:
        typer.echo(f"failed [{f.reason}]: {f.message}", err=True)
    if len(summary.failed) > 50:
        typer.echo(f"... and {len(summary.failed) - 50} more failures (use --json for all)", err=True)
    _exit_if_failed(summary.failed)


def _exit_if_failed(failed: Sequence[object]) -> None:
    """Exit code 1 when some inputs could not be indexed (the others were; README "Exit codes")."""
    if failed:
        raise typer.Exit(1)


def remove(
    targets: list[str] = typer.Argument(None, help="Item ids, indexed file paths, or folders."),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    missing: bool = typer.Option(False, "--missing", help="Remove every indexed file that no longer exists."),
) -> None:
    """Remove items from INDEX by id, file path or folder (or every missing file with --missing)."""
    from memesearch.index import Index

    if not targets and not missing:
        raise ConfigError("nothing to remove: give item ids or paths, or --missing")
    with Index.open(index_dir) as idx:
        n = idx.remove(targets) if targets else 0
        if missing:
            n += idx.remove_missing()
        total = len(idx)
    typer.echo(f"removed {n} item(s); {total} items in {index_dir}")
