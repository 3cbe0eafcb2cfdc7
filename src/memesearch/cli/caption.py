"""``memesearch caption``: captions for images, SubRip + JSON subtitles for videos and animations, and a
copy of a dataset with generated captions.

Media are decoded by :func:`memesearch.enrich.media.decode_media` (content decides the type; every bad
file becomes one line naming it, and the other files are still captioned); captions come from
:mod:`memesearch.caption`. This module only parses options, walks the inputs and prints.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from memesearch.caption.captioner import Captioner
    from memesearch.caption.decoding import DecodeConfig

log = logging.getLogger(__name__)


@dataclass
class _Job:
    """One input file: its cover frame (images) or its frames (clips with --srt), or why it failed."""

    path: str
    media: str = "image"
    frames: list[Image.Image] = field(default_factory=list, repr=False)
    times: list[float] | None = None
    duration: float | None = None
    error: str | None = None


def _expand(paths: list[str]) -> Iterator[str]:
    """Files as given; folders -> their media files (recursive, sorted) by name ending."""
    from memesearch.data.formats.media import MEDIA_EXTENSIONS

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from (
                str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS
            )
        else:
            yield raw


def _decode(path: str, frames: int, clips: bool) -> _Job:
    from memesearch.enrich.media import MediaError, decode_media

    try:
        decoded = decode_media(path, max_frames=frames if clips else 1)
    except MediaError as exc:
        return _Job(path, error=f"[{exc.reason}] {exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
    clip = clips and decoded.media in ("video", "gif")
    return _Job(
        path,
        media=decoded.media,
        frames=decoded.frames if clip else decoded.frames[:1],
        times=decoded.frame_times if clip else None,
        duration=decoded.duration_s if clip else None,
    )


def caption(
    paths: list[str] = typer.Argument(
        None, help="Images, animated GIFs, videos, or folders of them (recursive)."
    ),
    model: str = typer.Option(
        "starter-caption",
        "--model",
        "-m",
        envvar="MEMESEARCH_CAPTIONER",
        help="Captioner: starter-caption (shipped), a saved captioner folder, or a clipcap run/checkpoint.",
    ),
    beams: int = typer.Option(1, "--beams", min=1, help="Beam width (1: greedy)."),
    sample: bool = typer.Option(
        False, "--sample", help="Sample captions instead of searching (see --temperature)."
    ),
    temperature: float = typer.Option(1.0, "--temperature", help="With --sample: softmax temperature (> 0)."),
    top_p: float = typer.Option(1.0, "--top-p", help="With --sample: nucleus probability mass (0 < p <= 1)."),
    length_penalty: float = typer.Option(
        1.0,
        "--length-penalty",
        help="Score = log-probability sum / length ** this (beam ranking and scores).",
    ),
    num: int = typer.Option(1, "--num", "-n", min=1, help="Captions per image (<= --beams unless --sample)."),
    max_tokens: int = typer.Option(
        0, "--max-tokens", min=0, help="Longest caption in tokens (0: the model's)."
    ),
    lang: str | None = typer.Option(
        None, "--lang", help="Caption language, e.g. en or zh (default: the model's first)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="With --sample: seed for reproducible captions."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON: [{path, caption, score, lang}, ...]."),
    srt: Path | None = typer.Option(
        None,
        "--srt",
        help="Videos and animations: write <stem>.srt and <stem>.json subtitles into this folder.",
    ),
    frames: int = typer.Option(
        10, "--frames", min=1, help="With --srt: frames captioned per clip, evenly spaced."
    ),
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="Caption every item of this dataset and write a copy with the captions to --out.",
    ),
    split: list[str] | None = typer.Option(
        None, "--split", help="With --dataset: the splits to caption (repeatable; default: all)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="With --dataset: the folder of the copy (native format)."
    ),
    replace_captions: bool = typer.Option(
        False,
        "--replace-captions",
        help="With --dataset: the copy keeps only the generated captions (what a plain folder of images "
        "would have), instead of adding them to the given ones.",
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per decoder call."),
    device: str | None = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N (default: CUDA when present)."
    ),
) -> None:
    """Caption images (one line each), write subtitles of videos and GIFs (--srt), or caption a dataset.

    Files that cannot be decoded are reported one line each (stderr, or an "error" entry with --json); the
    others are captioned and the exit code is 1.
    """
    from memesearch.caption import DecodeConfig, load_captioner

    decode = DecodeConfig(
        num_beams=beams,
        sample=sample,
        temperature=temperature,
        top_p=top_p,
        length_penalty=length_penalty,
        num_return=num,
        max_tokens=max_tokens,
        lang=lang,
        seed=seed,
    )
    if dataset is not None:
        if out is None:
            raise ConfigError("--dataset needs --out: the folder the captioned copy is written to")
        if paths:
            raise ConfigError("give either media PATHs or --dataset, not both")
        from memesearch.cli.caption_dataset import caption_dataset

        captioner = load_captioner(model, device=device)
        summary = caption_dataset(
            captioner, dataset, out, split or None, decode, replace_captions, batch_size
        )
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2) if json_out else summary["message"])
        return
    if not paths:
        raise ConfigError("nothing to caption: give image, GIF or video paths (or --dataset DIR --out DIR)")
    captioner = load_captioner(model, device=device)
    jobs = [_decode(p, frames, srt is not None) for p in _expand(paths)]
    if not jobs:
        raise ConfigError(f"no media files found in {', '.join(paths)}")
    records = _caption_jobs(captioner, jobs, decode, srt, batch_size)
    failed = [r for r in records if "error" in r]
    if json_out:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        for r in records:
            if "error" in r:
                typer.echo(f"error: {r['path']}: {r['error']}", err=True)
            elif "srt" in r:
                typer.echo(f"{r['path']}\t{r['srt']}\t{r['json']}\t{len(r['cues'])} cues")
            else:
                for alt in r.get("alternatives", [r]):
                    typer.echo(f"{r['path']}\t{alt['caption']}\t{alt['score']:.3f}")
    if failed:
        typer.echo(f"{len(failed)} of {len(records)} files could not be captioned", err=True)
        raise typer.Exit(1)


def _caption_jobs(
    captioner: Captioner, jobs: list[_Job], decode: DecodeConfig, srt: Path | None, batch_size: int
) -> list[dict[str, Any]]:
    """One record per job, in input order (images batched together; each clip in one batch)."""
    from memesearch.caption.subtitles import caption_clip, write_subtitles

    records: dict[int, dict[str, Any]] = {}
    still = [
        i for i, j in enumerate(jobs) if j.error is None and not (srt is not None and j.media != "image")
    ]
    covers = [jobs[i].frames[0] for i in still]
    for i, captions in zip(still, captioner.caption(covers, decode, batch_size=batch_size), strict=True):
        best = captions[0]
        records[i] = {
            "path": jobs[i].path,
            "caption": best.text,
            "score": round(best.score, 4),
            "lang": best.lang,
        }
        if len(captions) > 1:
            records[i]["alternatives"] = [{"caption": c.text, "score": round(c.score, 4)} for c in captions]
    used: set[str] = set()
    for i, job in enumerate(jobs):
        if job.error is not None:
            records[i] = {"path": job.path, "error": job.error}
        elif i not in records:
            assert srt is not None
            cues = caption_clip(captioner, job.frames, job.times, job.duration, decode)
            stem = _unique_stem(Path(job.path).stem, used)
            srt_path, json_path = write_subtitles(cues, srt, stem)
            records[i] = {
                "path": job.path,
                "media": job.media,
                "srt": str(srt_path),
                "json": str(json_path),
                "cues": [c.to_dict() for c in cues],
            }
    return [records[i] for i in range(len(jobs))]


def _unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ... when two inputs share a name (never overwrite a sibling)."""
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name
