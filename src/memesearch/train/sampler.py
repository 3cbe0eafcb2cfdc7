"""The batch order of one training epoch: :class:`StepBatchSampler`.

The order is a function of ``(seed, epoch)`` only (no iterator state), so a resumed epoch can skip the
optimizer steps already done and still see exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from memesearch.errors import ConfigError


class StepBatchSampler(Sampler[list[int]]):
    """This rank's micro-batches of one epoch, from step ``start_step`` on.

    The epoch's order is a permutation seeded by ``(seed, epoch)``; step ``s`` takes the global batch
    ``perm[s*B:(s+1)*B]`` (the last incomplete batch is dropped: the contrastive batch keeps its
    size), rank ``r`` takes its contiguous ``B / world`` share, cut into ``accum`` micro-batches.
    Concatenating every rank's micro-batches in order gives back the global batch.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        accum_steps: int,
        rank: int,
        world_size: int,
        seed: int,
        epoch: int,
        start_step: int = 0,
    ) -> None:
        if batch_size % (world_size * accum_steps):
            raise ConfigError(
                f"batch_size={batch_size} must be divisible by world_size * accum_steps = "
                f"{world_size} * {accum_steps}; choose a batch_size that is a multiple of "
                f"{world_size * accum_steps}"
            )
        self.n, self.batch_size, self.accum, self.rank, self.world = (
            n,
            batch_size,
            accum_steps,
            rank,
            world_size,
        )
        self.seed, self.epoch, self.start_step = seed, epoch, start_step
        self.steps = n // batch_size

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        perm = torch.randperm(self.n, generator=gen)
        share = self.batch_size // self.world
        micro = share // self.accum
        for step in range(self.start_step, self.steps):
            start = step * self.batch_size + self.rank * share
            local = perm[start : start + share]
            for j in range(self.accum):
                yield local[j * micro : (j + 1) * micro].tolist()

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.accum
