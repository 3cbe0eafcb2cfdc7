"""``memesearch segment``: the regions a segmenter finds in one image, as PNG masks, an overlay and JSON.

Examples::

    memesearch segment sheet.png                            # auto: connected components, no weights
    memesearch segment meme.jpg --model sam2:./sam2.1-hiera-tiny --point 120,80 --box 10,10,200,150
    memesearch segment sheet.png --json > regions.json      # the JSON document on stdout, nothing written

The image is decoded by :func:`memesearch.enrich.media.decode_media` (first frame of an animation or
video, upright, alpha composited onto white); regions come from
:func:`memesearch.objects.create_segmenter`; files are written by :mod:`memesearch.objects.output`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from memesearch.errors import ConfigError


def _numbers(value: str, n: int, option: str, example: str) -> tuple[float, ...]:
    parts = [p.strip() for p in value.split(",")]
    try:
        numbers = tuple(float(p) for p in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != n:
        raise ConfigError(
            f"{option} expects {n} comma-separated numbers in pixels, e.g. {example}; got {value!r}"
        )
    return numbers


def segment(
    image: Path = typer.Argument(
        ..., help="Image (or animation / video: its first frame).", show_default=False
    ),
    model: str = typer.Option(
        "auto",
        "--model",
        "-m",
        help="Segmenter: auto (connected components of non-background, no weights) or sam2:<dir or hub id>.",
    ),
    point: list[str] = typer.Option(
        [],
        "--point",
        help="A click x,y in pixels: one region for the object under it (repeat).",
        show_default=False,
    ),
    box: list[str] = typer.Option(
        [],
        "--box",
        help="A box x0,y0,x1,y1 in pixels: one region for the object in it (repeat).",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for the masks, overlay and JSON [default: IMAGE's folder/<stem>-regions].",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the JSON document on stdout (files are written only with --out)."
    ),
    max_regions: int = typer.Option(
        32, "--max-regions", min=1, help="Regions kept without prompts (best first)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N for sam2 (default: CUDA when present)."
    ),
    min_area: float = typer.Option(
        0.001, "--min-area", help="Regions smaller than this share of the image are dropped, [0, 1)."
    ),
) -> None:
    """Segment IMAGE and write one PNG mask per region, an overlay and a JSON with boxes and RLE masks."""
    from memesearch.enrich.media import decode_media
    from memesearch.objects import SegmenterConfig, create_segmenter
    from memesearch.objects.output import regions_document, write_regions

    points = [_numbers(p, 2, "--point", "120,80") for p in point]
    boxes = [_numbers(b, 4, "--box", "10,10,200,150") for b in box]
    config = SegmenterConfig(max_regions=max_regions, min_area_fraction=min_area)
    picture = decode_media(image, max_frames=1).frames[0]
    segmenter = create_segmenter(model, config, device=device)
    start = time.monotonic()
    regions = segmenter.segment(
        picture,
        points=[(p[0], p[1]) for p in points] or None,
        boxes=[(b[0], b[1], b[2], b[3]) for b in boxes] or None,
    )
    seconds = time.monotonic() - start
    w, h = picture.size
    document = regions_document(
        regions,
        image=str(image),
        width=w,
        height=h,
        segmenter={"name": segmenter.name, "version": segmenter.version, "spec": model},
        points=[(p[0], p[1]) for p in points],
        boxes=[(b[0], b[1], b[2], b[3]) for b in boxes],
    )
    if json_out and out is None:
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    folder = out if out is not None else image.parent / f"{image.stem}-regions"
    path = write_regions(picture, regions, folder, stem=image.stem, document=document)
    if json_out:
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    typer.echo(f"{len(regions)} regions in {image} ({w}x{h}) by {model} in {seconds:.2f} s")
    for i, r in enumerate(regions):
        x0, y0, x1, y1 = (round(v) for v in r.box)
        typer.echo(f"  {i:2d}  box {x0},{y0},{x1},{y1}  area {round(r.area)}  score {r.score:.3f}")
    typer.echo(f"  masks, overlay and JSON: {path}")
