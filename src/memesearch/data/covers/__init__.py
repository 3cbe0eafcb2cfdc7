"""The covers benchmark: CBVS-like short-video covers rendered offline, for OCR-aware cover search.

Built by ``memesearch datasets build covers --out DIR`` or :func:`build_covers_benchmark`: covers of
topics (CLDR emoji) in genres (funny, tutorial, review, ...), scenes of colour fields, gradients and
noise with emoji composites, en/zh cover text in several fonts, sizes and positions on most of them,
titles that say more than the cover, short query-like queries with CBVS's graded labels (0/1/2), split by
topic. Written natively and in the CBVS TSV formats. What lives where:

* :mod:`~memesearch.data.covers.config` — :class:`CoversBuildConfig`, fonts, output names;
* :mod:`~memesearch.data.covers.genres` — genres and their cover / title / query texts;
* :mod:`~memesearch.data.covers.render` — drawing one cover (:class:`CoverJob`);
* :mod:`~memesearch.data.covers.assemble` — topics, splits, covers, graded queries (in memory);
* :mod:`~memesearch.data.covers.build` — the driver writing it all, and the dataset card.
"""

from memesearch.data.covers.assemble import CoversReport, load_topics, make_dataset
from memesearch.data.covers.build import build_covers_benchmark
from memesearch.data.covers.config import CoversBuildConfig, check_cover_fonts
from memesearch.data.covers.render import CoverJob, draw_cover, render_cover

__all__ = [
    "CoverJob",
    "CoversBuildConfig",
    "CoversReport",
    "build_covers_benchmark",
    "check_cover_fonts",
    "draw_cover",
    "load_topics",
    "make_dataset",
    "render_cover",
]
