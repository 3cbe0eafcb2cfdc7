"""The collages benchmark: emoji pasted onto plain, patterned and scene backgrounds, with their boxes.

Built offline by ``memesearch datasets build collages --out DIR`` or :func:`build_collages_benchmark`,
for measuring object-centric search (issue 14): a query names one emoji, the relevant images are the
collages that contain it somewhere, and each item's ``objects`` give the box of every emoji it holds
(ground truth for localisation). What lives where:

* :mod:`~memesearch.data.collages.config` — :class:`CollagesBuildConfig`, option checks, names;
* :mod:`~memesearch.data.collages.compose` — drawing one collage (:class:`CollageJob`) and its truth;
* :mod:`~memesearch.data.collages.assemble` — dealing concepts to collages per view; items and queries;
* :mod:`~memesearch.data.collages.build` — the driver writing it all to a folder, and the card.

The emoji images, CLDR names, concept splits and npm install are the emoji benchmark's
(:mod:`memesearch.data.emoji`).
"""

from memesearch.data.collages.assemble import CollagePlan, make_dataset, plan_collages
from memesearch.data.collages.build import build_collages_benchmark
from memesearch.data.collages.compose import CollageJob, PastedEmoji, draw_collage, render_collage
from memesearch.data.collages.config import CollagesBuildConfig, parse_counts

__all__ = [
    "CollageJob",
    "CollagePlan",
    "CollagesBuildConfig",
    "PastedEmoji",
    "build_collages_benchmark",
    "draw_collage",
    "make_dataset",
    "parse_counts",
    "plan_collages",
    "render_collage",
]
