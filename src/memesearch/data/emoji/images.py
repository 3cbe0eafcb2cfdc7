"""Writing the benchmark's images: one :class:`ImageJob` per image, rendered in a process pool.

Each job reads a 64-px source PNG of an npm package, composites it onto white (or keeps RGBA) and
resamples it to the build size with Lanczos; see :mod:`memesearch.data.emoji.build` for why. A source
SVG (the Fluent and OpenMoji styles) is rendered directly at the build size
(:func:`memesearch.data.emoji.svgstyles.render_svg`) and composited the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memesearch.errors import MemesearchError
from memesearch.utils.io import progress_bar


@dataclass(frozen=True, slots=True)
class ImageJob:
    """One image to write: source PNG or SVG (absolute), destination relative to the dataset folder."""

    source: str
    target: str
    size: int
    background: str


def write_image(job: ImageJob, root: str) -> None:
    """Write one image of ``job`` under ``root`` (a process-pool worker; top level so it pickles)."""
    from PIL import Image

    target = Path(root) / job.target
    target.parent.mkdir(parents=True, exist_ok=True)
    if job.source.endswith(".svg"):
        from memesearch.data.emoji.svgstyles import render_svg

        im = render_svg(job.source, job.size)
    else:
        with Image.open(job.source) as src:
            im = src.convert("RGBA")  # twitter PNGs may be palette images
    if job.background == "white":
        canvas = Image.new("RGBA", im.size, (255, 255, 255, 255))
        canvas.alpha_composite(im)
        im = canvas.convert("RGB")
    if im.size != (job.size, job.size):
        # RGBA is resampled premultiplied by Pillow, so hidden colours under alpha 0 do not bleed.
        im = im.resize((job.size, job.size), Image.Resampling.LANCZOS)
    im.save(target, format="PNG")


def _run_chunk(writer: Callable[[Any, str], None], jobs: list[Any], root: str) -> int:
    for job in jobs:
        writer(job, root)
    return len(jobs)


def run_image_jobs(
    writer: Callable[[Any, str], None],
    jobs: Sequence[Any],
    root: Path,
    *,
    workers: int | None = None,
    progress: bool = False,
    description: str = "writing images",
) -> None:
    """Call ``writer(job, str(root))`` for every job, in a process pool when there are many, with a
    progress bar (done/total, rate, ETA). ``writer`` and the jobs must pickle (top-level function,
    frozen dataclasses); each job must write its own file, so the order of completion does not matter.
    The memes benchmark renders its images through this too."""
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    chunk = 64
    chunks = [list(jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)]
    with progress_bar(description, len(jobs), enabled=progress, transient=False) as advance:
        if n_workers <= 1 or len(jobs) < 4 * chunk:
            for part in chunks:
                advance(_run_chunk(writer, part, str(root)))
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                n_chunks = len(chunks)
                for n in pool.map(_run_chunk, [writer] * n_chunks, chunks, [str(root)] * n_chunks):
                    advance(n)


def write_images(
    jobs: Sequence[ImageJob], root: Path, *, workers: int | None = None, progress: bool = False
) -> None:
    """Write all images under ``root``, in a process pool when there are many, with a progress bar."""
    missing = [j.source for j in jobs if not os.path.isfile(j.source)]
    if missing:
        raise MemesearchError(
            f"{len(missing)} source images are missing (e.g. {missing[0]}); the npm package looks "
            "incomplete: delete its folder under the npm cache and run the build again"
        )
    run_image_jobs(write_image, jobs, root, workers=workers, progress=progress)
