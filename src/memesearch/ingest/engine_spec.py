"""``--engine local|ray[:ADDRESS]``: the ingest engine a spec names (the local process pool or Ray Data)."""

from __future__ import annotations

from memesearch.errors import ConfigError
from memesearch.ingest.engines import Engine, LocalEngine
from memesearch.ingest.ray_engine import RayEngine


def parse_engine(spec: str, *, workers: int | None = None, actors: int | None = None) -> Engine:
    """The engine ``spec`` names: ``local``, ``ray`` or ``ray:ADDRESS`` (``auto`` or ``HOST:PORT``).

    ``workers``: decoding processes (local; default :func:`~memesearch.ingest.stages.default_workers`) or
    the CPUs of the Ray instance ``ray`` starts (default: all cores). ``actors``: Ray actors holding the
    encoder and enrichers (default 1). A bad spec is a :class:`ConfigError` naming what was given and the
    valid forms. Nothing is started or contacted here (see :meth:`Engine.check`).
    """
    text = (spec or "").strip()
    name, sep, address = text.partition(":")
    name = name.strip().lower()
    if name == "local" and not sep:
        if actors is not None:
            raise ConfigError("--actors applies to the Ray engine only; the local engine has one encoder")
        return LocalEngine(workers=workers)
    if name == "ray":
        if sep and not address.strip():
            raise ConfigError(
                f"engine {spec!r} names no Ray address; use 'ray' (a Ray instance in this process), "
                "'ray:auto' (the cluster this machine joined) or 'ray:HOST:PORT'"
            )
        return RayEngine(address=address.strip() or None, workers=workers, actors=actors or 1, spec=text)
    raise ConfigError(
        f"unknown engine {spec!r}; valid: 'local', 'ray' (a Ray instance in this process), "
        "'ray:auto' (the Ray cluster this machine joined) or 'ray:HOST:PORT' (its head node)"
    )


__all__ = ["parse_engine"]
