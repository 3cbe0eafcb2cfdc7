"""The Ray engine: prepare, enrich and embed as Ray Data operators (``--engine ray[:ADDRESS]``).

One run is one Ray Data pipeline, streamed back to the :class:`~memesearch.ingest.pipeline.Ingestor`,
which writes in this process exactly as with the local engine::

    from_items(WorkItem rows)
      -> map_batches(decode_rows)       CPU tasks (1 CPU each, spread over the nodes): prepare()
      -> map_batches(EnrichEmbed)       a pool of ``actors`` actors, each loading the encoder and the
                                        enrichers once: enrich_embed()
      -> iter_batches, in input order   -> near-duplicates, Index.write_batch (here)

The operators call the stage functions the local engine calls (:func:`~memesearch.ingest.prepare.prepare`,
:func:`~memesearch.ingest.stages.enrich_embed`), so both engines give the same items and vectors. Rows hold
one binary column of pickled records (dataclasses, PIL frames, numpy vectors: nothing Arrow has to
understand). The two operators ask for different resources, so Ray Data does not fuse them into one
(:data:`DECODE_MEMORY`).

The enrichment cache stays in the index (SQLite, on this machine): a :class:`CacheReader` actor pinned to
this node reads it read-only for the actors on every node, so content seen before is not enriched twice.

Requirements on a cluster: every node has memesearch and ray of the same versions, the input files at the
same paths (shared storage), and the encoder's files when its name points at a folder (``clip:<dir>``,
``checkpoint:<run>``); this process runs on a node of the cluster (``ray:auto`` / ``ray:HOST:PORT``, not
a ``ray://`` client). Each actor checks that its encoder has the index's signature.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memesearch.enrich.enrichers import Enricher
from memesearch.errors import ConfigError, MemesearchError
from memesearch.ingest.engines import EngineJob
from memesearch.ingest.inputs import InputRecord
from memesearch.ingest.prepare import Prepared, prepare
from memesearch.ingest.records import IngestFailure
from memesearch.ingest.stages import (
    Embedded,
    StageClock,
    WorkItem,
    enrich_embed,
    enrichers_for,
    with_cached_ocr,
)

logger = logging.getLogger(__name__)

#: work items per decode task
DECODE_BATCH = 16
#: memory a decode task reserves: it holds a few frames of up to ``max_pixels`` each while it works, so a
#: node runs no more decoders than its memory holds. Being unlike the actors' resources, it also keeps Ray
#: Data from fusing decoding into the actors (fused, decoding would run inside the few model actors).
DECODE_MEMORY = 512 * 2**20
#: seconds to wait for a cluster's head to accept a connection before giving up (ray.init alone retries
#: an unreachable address for many minutes)
CONNECT_TIMEOUT_S = 5.0


# ---- records between the operators -----------------------------------------------------------------
@dataclass
class Decoded:
    """What a decode task hands the actors: prepare's result, the input record, the seconds it took."""

    result: Prepared | IngestFailure | MemesearchError
    record: InputRecord
    seconds: float
    worker: str = ""  # host:pid of the decode task


@dataclass
class Done:
    """What an actor hands the driver: the item (or failure) and stage ``(seconds, items)`` to add up, or
    the domain error that stops the run. Errors travel as data: Ray hands exceptions of remote code back as
    text only, and the driver re-raises this one as it is (one line on the command line)."""

    result: Embedded | IngestFailure | None
    stages: dict[str, tuple[float, int]] = field(default_factory=dict)
    error: MemesearchError | None = None
    decoder: str = ""  # host:pid of the decode task
    actor: str = ""  # host:pid of the actor


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _column(blobs: list[bytes]) -> np.ndarray:
    out = np.empty(len(blobs), dtype=object)
    out[:] = blobs
    return out


# ---- the operators ---------------------------------------------------------------------------------
def decode_rows(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Decode operator: ``{"work": pickled WorkItem}`` -> ``{"decoded": pickled Decoded}``."""
    out: list[bytes] = []
    for blob in batch["work"]:
        work: WorkItem = pickle.loads(blob)
        t0 = time.perf_counter()
        result: Prepared | IngestFailure | MemesearchError
        try:
            result = with_cached_ocr(prepare(work.task), work.cached_ocr)
        except MemesearchError as exc:  # a setup problem (e.g. no OCR engine): stops the run
            result = exc
        out.append(_dumps(Decoded(result, work.record, time.perf_counter() - t0, worker_id())))
    return {"decoded": _column(out)}


@dataclass(frozen=True)
class WorkerSetup:
    """What an actor needs to build its own encoder and enrichers (picklable, small).

    ``shipped``: enrichers given to the Ingestor, sent as they are; None: the index's default enrichers
    (``emotions``, ``top_k``, ``captioner``), built around the actor's encoder.
    """

    encoder_name: str
    encoder_signature: str
    emotions: bool
    top_k: int
    shipped: tuple[Enricher, ...] | None = None
    captioner: str | None = None
    objects: str = "none"
    max_regions: int = 16
    region_method: str = "masked-crop"
    image_emotions: bool = False
    encoder_record: dict[str, Any] | None = None  # the index's encoder entry (pins starter v1 indexes)

    def load_encoder(self) -> Any:
        """The index's encoder, loaded by name and checked against the signature the index recorded."""
        from memesearch.index.config import encoder_signature
        from memesearch.index.info import EncoderMismatchError, encoder_dict, load_encoder

        encoder = load_encoder(self.encoder_name, self.encoder_record)
        got = encoder_signature(encoder_dict(encoder))
        if got != self.encoder_signature:
            raise EncoderMismatchError(
                f"on Ray node {socket.gethostname()} encoder {self.encoder_name!r} has signature {got}, "
                f"the index was built with {self.encoder_signature}: give every node the same model files"
            )
        return encoder

    def build_enrichers(self, encoder: Any) -> list[Enricher]:
        if self.shipped is not None:
            return list(self.shipped)
        return enrichers_for(
            encoder,
            emotions=self.emotions,
            top_k=self.top_k,
            captioner=self.captioner,
            objects=self.objects,
            max_regions=self.max_regions,
            image_emotions=self.image_emotions,
        )


class EnrichEmbed:
    """Actor operator: encoder and enrichers loaded once; ``{"decoded"}`` batches -> ``{"done"}`` batches.

    ``cache`` is a :class:`CacheReader` actor handle, or (tests, in-process) a plain lookup function.
    """

    def __init__(self, setup: WorkerSetup, cache: Any) -> None:
        self._cache = cache
        self._region_method = setup.region_method
        self._error: MemesearchError | None = None
        try:
            self.encoder = setup.load_encoder()
            self.enrichers = setup.build_enrichers(self.encoder)
        except MemesearchError as exc:  # reported with the first batch (see Done)
            self._error = exc

    def cached(self, keys: list[str], stage: str, version: str) -> dict[str, bytes]:
        if callable(self._cache):
            return dict(self._cache(keys, stage, version))
        import ray

        return dict(ray.get(self._cache.cached.remote(keys, stage, version)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded: list[Decoded] = [pickle.loads(b) for b in batch["decoded"]]
        failed = [d.result for d in decoded if isinstance(d.result, MemesearchError)]
        error = self._error or (failed[0] if failed else None)
        ready = [(d.result, d.record) for d in decoded if isinstance(d.result, Prepared)]
        clock = StageClock()
        done: list[Embedded] = []
        if ready and error is None:
            try:
                done = enrich_embed(
                    ready,
                    self.encoder,
                    self.enrichers,
                    self.cached,
                    clock,
                    region_method=self._region_method,
                )
            except MemesearchError as exc:
                error = exc
        if error is not None:
            return {"done": _column([_dumps(Done(None, error=error))])}
        embedded = iter(done)
        batch_stages = {k: (clock.seconds[k], clock.items.get(k, 0)) for k in clock.seconds}
        out: list[bytes] = []
        for d in decoded:
            stages = {"prepare": (d.seconds, 1), **batch_stages}
            batch_stages = {}  # the batch's enrich/embed time goes with its first row only
            result = next(embedded) if isinstance(d.result, Prepared) else d.result
            assert not isinstance(result, MemesearchError)
            out.append(_dumps(Done(result, stages, decoder=d.worker, actor=worker_id())))
        return {"done": _column(out)}


class CacheReader:
    """Reads the index's enrichment cache (its SQLite database, read-only) for actors on any node."""

    def __init__(self, database: str) -> None:
        from memesearch.index.store import Store

        self.store = Store(database, readonly=True)

    def cached(self, keys: list[str], stage: str, version: str) -> dict[str, bytes]:
        return self.store.cache_get_many(keys, stage, version)


# ---- the engine ------------------------------------------------------------------------------------
@dataclass
class RayEngine:
    """Runs prepare, enrich and embed on Ray (module docstring).

    Args:
        address: ``None`` starts a Ray instance in this process (``workers`` CPUs, default all cores) and
            stops it on :meth:`close`; ``"auto"`` joins the cluster this machine is a node of (``RAY_ADDRESS``
            or the last ``ray start``); ``"HOST:PORT"`` the cluster whose head listens there.
        actors: actors holding the encoder and enrichers (1 CPU each).
    """

    address: str | None = None
    workers: int | None = None
    actors: int = 1
    spec: str = "ray"
    _owned: bool = field(default=False, init=False, repr=False)  # this engine called ray.init()
    _startup_s: float | None = field(default=None, init=False, repr=False)
    _target: str | None = field(default=None, init=False, repr=False)  # HOST:PORT once resolved
    _workers_seen: dict[str, set[str]] = field(
        default_factory=lambda: {"decoders": set(), "actors": set()}, init=False, repr=False
    )

    # ---- lifecycle ------------------------------------------------------------------------------
    def check(self) -> None:
        """The options are valid, ray is installed and (with an address) the cluster's head answers."""
        if self.actors < 1:
            raise ConfigError(f"--actors must be >= 1, got {self.actors}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be >= 1 with --engine {self.spec} (the Ray instance's CPUs)")
        if self.address is not None and self.workers is not None:
            raise ConfigError(
                f"--workers sets the CPUs of the Ray instance that --engine ray starts; the cluster of "
                f"--engine {self.spec} brings its own: leave --workers out"
            )
        _import_ray(self.spec)
        if self.address is not None:
            host, port = self._resolve()
            try:
                with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                    pass
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise ConfigError(
                    f"cannot reach a Ray cluster at {host}:{port} (--engine {self.spec}): {reason}; start "
                    "one with `ray start --head`, or use --engine local"
                ) from None
            self._target = f"{host}:{port}"

    def _resolve(self) -> tuple[str, int]:
        """``(host, port)`` of the cluster's head (GCS) that ``address`` names."""
        assert self.address is not None
        address = self.address
        if address.startswith(("ray://", "//")):  # --engine ray://HOST:PORT
            raise ConfigError(
                f"--engine {self.spec}: Ray Client addresses (ray://) are not supported, since the index is "
                "written by this process on a node of the cluster; run memesearch on a node and use "
                "--engine ray:auto or ray:HOST:PORT"
            )
        if address == "auto":
            # RAY_ADDRESS, else the cluster `ray start` recorded, else a running head found by Ray
            # (Ray's own lookup for "auto", without its swap of 127.0.0.1 for this machine's address)
            try:
                address = _auto_address()
            except (ConnectionError, ValueError) as exc:
                raise ConfigError(
                    f"--engine {self.spec}: no running Ray cluster found from this machine "
                    f"({_first_line(exc)}); start one with `ray start --head`, or use --engine local"
                ) from None
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--engine {self.spec}: {address!r} is not a Ray address; use ray:auto or ray:HOST:PORT "
                "(the head node's GCS port, 6379 by default)"
            )
        return host.strip("[]"), int(port)

    def _connect(self) -> None:
        ray = _import_ray(self.spec)
        if ray.is_initialized():  # the caller's own Ray session: use it, leave it running
            return
        t0 = time.perf_counter()
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if self.address is None:
                cpus = max(self.workers or os.cpu_count() or 1, self.actors + 1)  # actors + >= 1 decoder
                ray.init(num_cpus=cpus, include_dashboard=False, **options)
            else:
                self.check()
                ray.init(address=self._target, **options)
        except MemesearchError:
            raise
        except Exception as exc:
            where = "a local Ray instance" if self.address is None else f"the Ray cluster at {self._target}"
            raise ConfigError(f"--engine {self.spec}: cannot start {where}: {_first_line(exc)}") from None
        self._owned = True
        self._startup_s = time.perf_counter() - t0

    def close(self) -> None:
        """Disconnect from Ray (and stop the instance this engine started); a no-op when not connected."""
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": "ray", "spec": self.spec, "actor_pool": self.actors}
        if self._target:
            out["address"] = self._target
        if self._startup_s is not None:
            out["startup_s"] = round(self._startup_s, 3)
        seen = self._workers_seen
        if seen["actors"]:  # the processes that did the work (host:pid), and on how many nodes
            out.update({k: sorted(v) for k, v in seen.items()})
            out["nodes"] = len({w.rsplit(":", 1)[0] for w in seen["decoders"] | seen["actors"]})
        return out

    # ---- one run --------------------------------------------------------------------------------
    def run(self, job: EngineJob, clock: StageClock) -> Iterator[Embedded | IngestFailure]:
        """Stream ``job.work`` through the operators; results in input order, stage seconds on ``clock``
        (the workers' seconds, added up over workers)."""
        if not job.work:
            return
        self._connect()
        import ray
        from ray.data import ActorPoolStrategy
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        idx = job.index
        self._workers_seen = {"decoders": set(), "actors": set()}
        setup = WorkerSetup(
            encoder_name=str(idx.info["encoder"]["name"]),
            encoder_signature=str(idx.info["encoder"]["signature"]),
            encoder_record=dict(idx.info["encoder"]),
            emotions=idx.config.emotions,
            top_k=idx.config.emotion_top_k,
            captioner=idx.config.captioner,
            objects=idx.config.objects,
            max_regions=idx.config.max_regions,
            region_method=idx.config.region_embedding,
            image_emotions=idx.config.image_emotions,
            shipped=None if job.default_enrichers else tuple(job.enrichers),
        )
        here = ray.get_runtime_context().get_node_id()
        reader: Any = (
            ray.remote(CacheReader)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
            .remote(str(idx.store.path))
        )
        try:
            with _data_context():
                rows = [{"work": _dumps(w)} for w in job.work]
                ds: Any = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // DECODE_BATCH))
                ds = ds.map_batches(
                    decode_rows,
                    batch_size=DECODE_BATCH,
                    batch_format="numpy",
                    num_cpus=1,
                    memory=DECODE_MEMORY,
                )
                ds = ds.map_batches(
                    EnrichEmbed,
                    fn_constructor_kwargs={"setup": setup, "cache": reader},
                    batch_size=idx.config.batch_size,
                    batch_format="numpy",
                    compute=ActorPoolStrategy(size=self.actors),
                    num_cpus=1,
                )
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    for blob in batch["done"]:
                        done: Done = pickle.loads(blob)
                        if done.error is not None:
                            raise done.error
                        for stage, (seconds, items) in done.stages.items():
                            clock.add(stage, seconds, items)
                        self._workers_seen["decoders"].add(done.decoder)
                        self._workers_seen["actors"].add(done.actor)
                        assert done.result is not None
                        yield done.result
        finally:
            ray.kill(reader)


# ---- helpers ---------------------------------------------------------------------------------------
def _import_ray(spec: str) -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(
            f"--engine {spec} needs Ray Data ({exc}); install it with: pip install 'ray[data]'"
        ) from None
    return ray


def _auto_address() -> str:
    """What ``ray.init(address="auto")`` would join (Ray's own lookup; RAY_ADDRESS alone where a Ray
    version lacks it)."""
    try:
        from ray._private.services import get_ray_address_from_environment
    except ImportError:
        if not os.environ.get("RAY_ADDRESS"):
            raise ConnectionError("RAY_ADDRESS is not set; use ray:HOST:PORT") from None
        return os.environ["RAY_ADDRESS"]
    return str(get_ray_address_from_environment("auto", None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextmanager
def _data_context() -> Iterator[None]:
    """Results in input order (near-duplicate links and the summary match the local engine's), no
    progress bars or per-run info logs; the caller's Ray Data settings are restored afterwards."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start)
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    if not logger.isEnabledFor(logging.INFO):
        data_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start = saved
        data_logger.setLevel(level)


__all__ = ["CacheReader", "EnrichEmbed", "RayEngine", "WorkerSetup", "decode_rows"]
