"""HTTP server and web page of memesearch: ``create_app(settings)`` and its settings.

Imported lazily so that ``import memesearch.serve`` does not pull in FastAPI or the index::

    from memesearch.serve import ServeSettings, create_app
    app = create_app(ServeSettings(index_dir="build/index"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

_API: dict[str, str] = {
    "create_app": "memesearch.serve.app",
    "API_VERSION": "memesearch.serve.app",
    "ServeSettings": "memesearch.serve.settings",
}

__all__ = list(_API)

__getattr__, __dir__ = lazy_api(__name__, _API, globals())

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from memesearch.serve.app import API_VERSION, create_app  # noqa: F401
    from memesearch.serve.settings import ServeSettings  # noqa: F401
