"""``memesearch search``: text, batch (a file of queries) or image-to-image search of an index."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from memesearch.errors import ConfigError, DataFormatError


def search(
    query: str | None = typer.Argument(None, help="The search text (a chat message or a few words)."),
    index_dir: Path = typer.Option(..., "--index", "-i", help="Index folder."),
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
) -> None:
    """Search INDEX and print ranked results with per-branch scores and emotions."""
    from memesearch.index import Index, parse_weights
    from memesearch.search import Searcher

    given = sum(x is not None for x in (query, image, queries_file))
    if given != 1:
        raise ConfigError("give exactly one of: a query text, --image PATH, or --file QUERIES.txt")
    w = parse_weights(weights) if weights else None
    if box is not None and image is None:
        raise ConfigError("--box picks an object of the query image: give --image PATH too")
    with Index.open(index_dir, model=model, readonly=True) as idx:
        searcher = Searcher(idx, weights=w)
        opts = {
            "k": k,
            "emotion": emotion or None,
            "media": media or None,
            "source": source,
            "explain": explain,
        }
        if image is not None:
            if objects:
                raise ConfigError(
                    "--objects applies to text queries (a region is found by what the text names)"
                )
            if min_relevance is not None:
                raise ConfigError(
                    "--min-relevance applies to text queries (relevance is calibrated for text)"
                )
            responses = [searcher.search_image(image, box=_parse_box(box), **opts)]  # type: ignore[arg-type]
        elif queries_file is not None:
            try:
                lines = queries_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise DataFormatError(f"cannot read the queries file: {exc}", path=queries_file) from None
            texts = [line.strip() for line in lines if line.strip()]
            if not texts:
                raise DataFormatError("the queries file holds no query (one per line)", path=queries_file)
            responses = searcher.search_batch(texts, min_relevance=min_relevance, objects=objects, **opts)  # type: ignore[arg-type]
        else:
            responses = [searcher.search(str(query), min_relevance=min_relevance, objects=objects, **opts)]  # type: ignore[arg-type]
    if json_out:
        if queries_file is not None:
            for r in responses:
                typer.echo(json.dumps(r.to_dict(), ensure_ascii=False))
        else:
            typer.echo(json.dumps(responses[0].to_dict(), ensure_ascii=False, indent=2))
        return
    for r in responses:
        _print_response(r, explain)


def _parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    from memesearch.objects.regions import parse_box

    return None if text is None else parse_box(text)


def _print_response(resp: object, explain: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from memesearch.data.emotions import EMOTIONS
    from memesearch.search.results import SearchResponse

    assert isinstance(resp, SearchResponse)
    console = Console(highlight=False)
    title = f"“{resp.query}”" if resp.query is not None else "image search"
    if resp.filters:
        title += "  " + "  ".join(
            f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in resp.filters.items()
        )
    table = Table(title=f"{title}  ({len(resp.hits)} of {resp.total_items} items, {resp.took_ms:.0f} ms)")
    from memesearch.search.branches import BRANCHES

    score_col = "relevance" if resp.calibrated else "score"
    with_regions = any(h.region is not None for h in resp.hits)
    shown = [b for b in BRANCHES if b != "objects" or with_regions]
    for col in ("#", "id", score_col, *shown, *(["region"] if with_regions else []), "emotions", "file"):
        table.add_column(col, justify="right" if col in ("#", score_col, *BRANCHES) else "left")
    for h in resp.hits:

        def fmt(b: str, h: object = h) -> str:
            s = h.scores.get(b)  # type: ignore[attr-defined]
            return "-" if s is None else f"{s:.3f}"

        emos = ", ".join(f"{e}/{EMOTIONS.get(e, e)}" for e, _ in h.item.emotions) or "-"
        path = h.item.paths[0] if h.item.paths else "-"
        region = []
        if with_regions:
            box = h.region["box"] if h.region else None
            region = ["-" if box is None else ",".join(f"{v:.0f}" for v in box)]
        table.add_row(str(h.rank), h.id, f"{h.score:.3f}", *[fmt(b) for b in shown], *region, emos, path)
    console.print(table)
    from memesearch.search.frames import describe_frame

    for h in resp.hits:  # animated hits: which frame the image branch matched, and text from later frames
        if h.frame is not None:
            console.print(f"  {h.rank}. {h.id}: image matched {describe_frame(h.frame)}")
        later = [ln for ln in h.item.ocr or [] if ln.time_ms]
        if later:
            shown_text = ", ".join(f"“{ln.text}” at {(ln.time_ms or 0) / 1000:.2f} s" for ln in later[:3])
            console.print(f"  {h.rank}. {h.id}: text in later frames: {shown_text}")
    for h in resp.hits:  # the text these hits matched is (partly) what a captioner wrote: say so
        info = h.item.generated_caption()
        if info is not None:
            texts = ", ".join(f"“{c}”" for c in info["captions"][:3])
            console.print(f"  {h.rank}. {h.id}: generated caption ({info['captioner']['name']}): {texts}")
    if explain:
        for h in resp.hits:
            console.print(f"  {h.rank}. {h.id}: " + "; ".join(h.why))
    if resp.untagged_excluded:
        console.print(
            f"  the emotion filter left out {resp.untagged_excluded} item(s) that have no emotion tag "
            "(their emotion is unknown); search without --emotion to see them"
        )
    if resp.min_relevance is not None and resp.below_cut:
        console.print(f"  {resp.below_cut} more result(s) below relevance {resp.min_relevance:g} left out")
    if not resp.hits:
        if resp.min_relevance is not None:
            console.print(
                f"  no result is likely relevant (relevance >= {resp.min_relevance:g}); "
                "lower --min-relevance or rephrase the query"
            )
        else:
            console.print("  no results" + (" (the filters match no item)" if resp.filters else ""))
