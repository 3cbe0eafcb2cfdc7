"""Lazy public APIs: a package names what it exports, each name's module is imported on first use.

Keeps ``import memesearch`` (and ``import memesearch.train``) free of torch and other heavy imports::

    __getattr__, __dir__ = lazy_api(__name__, {"TrainConfig": "memesearch.train.config"}, globals())
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_api(
    package: str, api: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` exporting ``api`` (name -> module).

    A resolved name is cached in ``namespace`` (the package's ``globals()``), so each import runs once.
    """

    def __getattr__(name: str) -> Any:
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", api))

    return __getattr__, __dir__
