"""Data parallelism under ``torchrun``: process group from the environment, feature gathering with
gradient, gradient averaging. Importing this module does nothing; :func:`init_distributed` does.

Launch (one node, 8 GPUs; several nodes add ``--nnodes``/``--rdzv-endpoint``)::

    torchrun --nproc_per_node 8 -m memesearch.train --config qi.yaml

``LOCAL_RANK``, ``RANK`` and ``WORLD_SIZE`` are read from the environment (torchrun sets them; the old
``--local_rank`` argument is not used). The back end is NCCL on CUDA and gloo on CPU.

Why gradients are averaged here instead of by ``torch.nn.parallel.DistributedDataParallel``: a
GradCache step runs one backward through the loss (which reaches loss-only parameters such as the logit
scale) and one backward per re-forwarded micro-batch, while DDP's reducer expects exactly one
forward/backward per step over the wrapped module. Averaging the ``.grad`` of every trainable
parameter once per step, after accumulation, is what DDP computes, for any number of backward passes.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """Where this process runs: rank, world size and device. ``world_size == 1`` means no process group."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    initialized_here: bool = False

    @property
    def distributed(self) -> bool:
        """True when there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that writes run files and validates)."""
        return self.rank == 0


def ranks_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` (defaults 0, 0, 1)."""
    env = os.environ if environ is None else environ
    values = []
    for key, default in (("RANK", 0), ("LOCAL_RANK", 0), ("WORLD_SIZE", 1)):
        raw = env.get(key)
        try:
            values.append(default if raw in (None, "") else int(raw))
        except ValueError:
            raise ConfigError(
                f"environment variable {key}={raw!r} is not an integer; torchrun sets it"
            ) from None
    rank, local_rank, world = values
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} WORLD_SIZE={world} is inconsistent; launch with torchrun")
    return rank, local_rank, world


def init_distributed(device: str = "auto", *, timeout_s: float = 1800.0) -> DistEnv:
    """Pick the device and, when ``WORLD_SIZE > 1``, join the process group (NCCL on CUDA, gloo on CPU).

    ``device="auto"`` means ``cuda:LOCAL_RANK`` when CUDA is present, else CPU. A process group that
    already exists (created by the caller) is reused and left alone by :func:`shutdown_distributed`.
    """
    import torch
    import torch.distributed as dist

    from memesearch.utils.device import resolve_device

    rank, local_rank, world = ranks_from_env()
    kind = torch.device(resolve_device(None if device == "auto" else device)).type
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA devices are visible; "
                "use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device(kind)
    initialized_here = False
    if world > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)
        initialized_here = True
        log.info("rank %d/%d joined the %s process group on %s", rank, world, backend, dev)
    return DistEnv(
        rank=rank, local_rank=local_rank, world_size=world, device=dev, initialized_here=initialized_here
    )


def shutdown_distributed(env: DistEnv) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    import torch.distributed as dist

    if env.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


@functools.cache
def _gather_impl() -> Any:
    import torch
    import torch.distributed as dist

    class _AllGatherWithGrad(torch.autograd.Function):
        """Forward: concatenate every rank's ``(B, ...)`` tensor into ``(world * B, ...)``.

        Backward: the gradient of this rank's slice, summed over ranks. Each rank computes the same
        global loss, so the sum is ``world_size`` times the true gradient; averaging parameter
        gradients over ranks (:func:`average_gradients`) brings it back to exactly the one-process
        gradient, while loss-only parameters (used identically on every rank) are averaged as-is.
        """

        @staticmethod
        def forward(ctx: Any, tensor: Tensor) -> Tensor:
            world = dist.get_world_size()
            ctx.rank, ctx.batch = dist.get_rank(), tensor.shape[0]
            parts = [torch.empty_like(tensor) for _ in range(world)]
            dist.all_gather(parts, tensor.contiguous())
            return torch.cat(parts, dim=0)

        @staticmethod
        def backward(ctx: Any, grad: Tensor) -> Tensor:
            grad = grad.contiguous().clone()
            dist.all_reduce(grad, op=dist.ReduceOp.SUM)
            return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]

    return _AllGatherWithGrad


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` (``(B, ...)``, same shape on every rank) over ranks, in rank order.

    Float tensors keep an autograd path back to this rank's slice (see the class docstring above);
    integer tensors (group ids) are gathered without one. Returns ``tensor`` itself on one process.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    if tensor.is_floating_point() and tensor.requires_grad:
        return _gather_impl().apply(tensor)  # type: ignore[no-any-return,unused-ignore]
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def average_gradients(params: Iterable[nn.Parameter], world_size: int, bucket_mb: float = 25.0) -> None:
    """All-reduce and average the ``.grad`` of ``params`` over ranks (in place), in flat buckets.

    A parameter without a gradient on every rank keeps ``grad=None`` (so AdamW skips it, as in a
    single process); one with a gradient on some ranks only gets zeros on the others.
    """
    import torch
    import torch.distributed as dist

    if world_size <= 1:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    device = params[0].device
    has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
    dist.all_reduce(has_grad, op=dist.ReduceOp.SUM)  # how many ranks have a gradient for each param
    live = [p for p, n in zip(params, has_grad.tolist(), strict=True) if n > 0]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    limit = int(bucket_mb * 2**20)
    bucket: list[Tensor] = []
    size = 0
    for p in live:
        grad = p.grad
        assert grad is not None
        if bucket and (grad.dtype != bucket[0].dtype or size + grad.numel() * grad.element_size() > limit):
            _reduce_bucket(bucket, world_size)
            bucket, size = [], 0
        bucket.append(grad)
        size += grad.numel() * grad.element_size()
    if bucket:
        _reduce_bucket(bucket, world_size)


def _reduce_bucket(grads: list[Tensor], world_size: int) -> None:
    import torch
    import torch.distributed as dist

    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(world_size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy parameters and buffers from rank ``src`` to every rank (identical start, as DDP does)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=src)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects; e.g. the run directory name)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` on one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for every rank (no-op on one process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
