"""``memesearch search``: text, batch (a file of queries) or image-to-image search of an index — here, or
on a running ``memesearch serve`` (``--server URL``, :mod:`memesearch.cli.search_remote`).

Startup matters here (a person waits for it): nothing heavy is imported at module level, and a text query
with the ``starter`` encoder never imports torch (``tests/integration/test_search_cli_fast.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from memesearch.errors import ConfigError, DataFormatError

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.search.results import SearchResponse


def search(
    query: str | None = typer.Argument(None, help="The search text (a chat message or a few words)."),
    index_dir: Path | None = typer.Option(None, "--index", "-i", help="Index folder (or give --server)."),
    k: int = typer.Option(20, "--k", "-k", help="Number of results."),
    emotion: list[str] = typer.Option(
        None, "--emotion", "-e", help="Only items with this emotion (en or zh; repeat)."
    ),
    media: list[str] = typer.Option(None, "--media", help="Only image, gif or video items (repeat)."),
    source: str | None = typer.Option(None, "--source", help="Only items from this source."),
    image: Path | None = typer.Option(None, "--image", help="Search by this image instead of text."),
    queries_file: Path | None = typer.Option(
        None, "--file", "-f", help="Batch: a text file with one query per line (UTF-8)."
    ),
    explain: bool = typer.Option(False, "--explain", help="Say why each result matched."),
    weights: str | None = typer.Option(
        None, "--weights", help="Fusion weights, e.g. image=0.5,text=0.3,lexical=0.2."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Encoder (must be the one the index was built with)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON (one object per query; JSON lines for --file)."
    ),
    min_relevance: float | None = typer.Option(
        None,
        "--min-relevance",
        help="Only hits whose calibrated relevance (a probability) is at least this, e.g. 0.5 (maybe none).",
    ),
    box: str | None = typer.Option(
        None,
        "--box",
        help="With --image: search by the object in this box of the image, x0,y0,x1,y1 in pixels (against "
        "the items' regions when the index keeps them).",
    ),
    objects: bool = typer.Option(
        False,
        "--objects",
        help="Rank by the items' regions (an index built with --objects): the query names one object; each "
        "hit shows the box of the region that matched.",
    ),
    server: str | None = typer.Option(
        None,
        "--server",
        help="Send the query to a running 'memesearch serve' at this URL (e.g. http://127.0.0.1:8000) "
        "instead of opening an index here; prints the same results.",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="MEMESEARCH_TOKEN",
        help="With --server: the access token to send (needed when the server runs with --auth-reads).",
    ),
) -> None:
    """Search INDEX (or a running server's) and print ranked results with per-branch scores and emotions."""
    given = sum(x is not None for x in (query, image, queries_file))
    if given != 1:
        raise ConfigError("give exactly one of: a query text, --image PATH, or --file QUERIES.txt")
    if box is not None and image is None:
        raise ConfigError("--box picks an object of the query image: give --image PATH too")
    if image is not None and objects:
        raise ConfigError("--objects applies to text queries (a region is found by what the text names)")
    if image is not None and min_relevance is not None:
        raise ConfigError("--min-relevance applies to text queries (relevance is calibrated for text)")
    emotions, medias = emotion or None, media or None
    texts = _read_queries(queries_file) if queries_file is not None else None
    if server is not None:
        if index_dir is not None:
            raise ConfigError("give --index (search here) or --server (search there), not both")
        unsupported = [n for n, v in (("--source", source), ("--weights", weights), ("--model", model)) if v]
        if unsupported:
            raise ConfigError(f"{', '.join(unsupported)} cannot be sent to a server; search with --index")
        from memesearch.cli.search_remote import search_remote

        if image is not None:
            results = [
                search_remote(
                    server,
                    image=image,
                    box=box,
                    k=k,
                    explain=explain,
                    token=token,
                    emotion=emotions,
                    media=medias,
                )
            ]
        else:
            results = [
                search_remote(
                    server,
                    query=q,
                    k=k,
                    explain=explain,
                    token=token,
                    min_relevance=min_relevance,
                    objects=objects,
                    emotion=emotions,
                    media=medias,
                )
                for q in (texts if texts is not None else [str(query)])
            ]
        _output(results, json_out=json_out, batch=queries_file is not None, explain=explain)
        return
    if index_dir is None:
        raise ConfigError("give --index INDEX (or --server URL of a running 'memesearch serve')")
    responses = _search_local(
        index_dir, query, image, texts, box=box, weights=weights, model=model, source=source, k=k,
        explain=explain, min_relevance=min_relevance, objects=objects, emotion=emotions, media=medias,
    )  # fmt: skip
    _output(
        [r.to_dict() for r in responses], json_out=json_out, batch=queries_file is not None, explain=explain
    )


def _read_queries(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read the queries file: {exc}", path=path) from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise DataFormatError("the queries file holds no query (one per line)", path=path)
    return texts


def _search_local(
    index_dir: Path,
    query: str | None,
    image: Path | None,
    texts: list[str] | None,
    *,
    box: str | None,
    weights: str | None,
    model: str | None,
    source: str | None,
    k: int,
    explain: bool,
    min_relevance: float | None,
    objects: bool,
    emotion: list[str] | None,
    media: list[str] | None,
) -> list[SearchResponse]:
    from memesearch.index import Index, parse_weights
    from memesearch.search import Searcher

    w = parse_weights(weights) if weights else None
    with Index.open(index_dir, model=model, readonly=True) as idx:
        searcher = Searcher(idx, weights=w)
        if image is not None:
            return [
                searcher.search_image(
                    image,
                    box=_parse_box(box),
                    k=k,
                    emotion=emotion,
                    media=media,
                    source=source,
                    explain=explain,
                )
            ]
        return searcher.search_batch(
            texts if texts is not None else [str(query)], k=k, emotion=emotion, media=media, source=source,
            explain=explain, min_relevance=min_relevance, objects=objects,
        )  # fmt: skip


def _output(results: list[dict[str, Any]], *, json_out: bool, batch: bool, explain: bool) -> None:
    """Print search results (``SearchResponse.to_dict()`` form, local or from a server) as JSON or tables."""
    if json_out:
        if batch:
            for r in results:
                typer.echo(json.dumps(r, ensure_ascii=False))
        else:
            typer.echo(json.dumps(results[0], ensure_ascii=False, indent=2))
        return
    for r in results:
        _print_response(r, explain)


def _parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    from memesearch.objects.regions import parse_box

    return None if text is None else parse_box(text)


def _print_response(resp: dict[str, Any], explain: bool) -> None:
    """One response (its JSON form) as a table, then the notes under it."""
    from rich.console import Console
    from rich.table import Table

    from memesearch.data.emotions import EMOTIONS

    console = Console(highlight=False)
    hits: list[dict[str, Any]] = resp["hits"]
    filters: dict[str, Any] = resp.get("filters") or {}
    title = f"“{resp['query']}”" if resp.get("query") is not None else "image search"
    if filters:
        title += "  " + "  ".join(
            f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in filters.items()
        )
    took = float(resp.get("took_ms") or 0.0)
    table = Table(title=f"{title}  ({len(hits)} of {resp.get('total_items', 0)} items, {took:.0f} ms)")
    score_col = "relevance" if resp.get("calibrated") else "score"
    with_regions = any(h.get("region") is not None for h in hits)
    branches: list[str] = list(resp.get("branches") or [])  # the response's branches, in order
    shown = [b for b in branches if b != "objects" or with_regions]
    for col in ("#", "id", score_col, *shown, *(["region"] if with_regions else []), "emotions", "file"):
        table.add_column(col, justify="right" if col in ("#", score_col, *branches) else "left")
    for h in hits:
        scores: dict[str, float] = h.get("scores") or {}
        item: dict[str, Any] = h.get("item") or {}
        emos = ", ".join(
            f"{e['emotion']}/{EMOTIONS.get(e['emotion'], e['emotion'])}" for e in item.get("emotions") or []
        )
        paths = item.get("paths") or []
        region = []
        if with_regions:
            box = (h.get("region") or {}).get("box")
            region = ["-" if box is None else ",".join(f"{v:.0f}" for v in box)]
        table.add_row(
            str(h["rank"]),
            h["id"],
            f"{h['score']:.3f}",
            *["-" if scores.get(b) is None else f"{scores[b]:.3f}" for b in shown],
            *region,
            emos or "-",
            paths[0] if paths else "-",
        )
    console.print(table)
    from memesearch.search.frames import describe_frame

    for h in hits:  # animated hits: which frame the image branch matched, and text from later frames
        if h.get("frame"):
            console.print(f"  {h['rank']}. {h['id']}: image matched {describe_frame(h['frame'])}")
        later = [ln for ln in (h.get("item") or {}).get("ocr") or [] if ln.get("time_ms")]
        if later:
            shown_text = ", ".join(f"“{ln['text']}” at {int(ln['time_ms']) / 1000:.2f} s" for ln in later[:3])
            console.print(f"  {h['rank']}. {h['id']}: text in later frames: {shown_text}")
    for h in hits:  # the text these hits matched is (partly) what a captioner wrote: say so
        info = h.get("generated_caption")
        if info:
            texts = ", ".join(f"“{c}”" for c in info["captions"][:3])
            console.print(
                f"  {h['rank']}. {h['id']}: generated caption ({info['captioner']['name']}): {texts}"
            )
    if explain:
        for h in hits:
            console.print(f"  {h['rank']}. {h['id']}: " + "; ".join(h.get("why") or []))
    if resp.get("untagged_excluded"):
        console.print(
            f"  the emotion filter left out {resp['untagged_excluded']} item(s) that have no emotion tag "
            "(their emotion is unknown); search without --emotion to see them"
        )
    min_relevance = resp.get("min_relevance")
    if min_relevance is not None and resp.get("below_cut"):
        console.print(f"  {resp['below_cut']} more result(s) below relevance {min_relevance:g} left out")
    if not hits:
        if min_relevance is not None:
            console.print(
                f"  no result is likely relevant (relevance >= {min_relevance:g}); "
                "lower --min-relevance or rephrase the query"
            )
        else:
            console.print("  no results" + (" (the filters match no item)" if filters else ""))
