"""The learnable, clamped logit scale (temperature) that contrastive models own.

A model part, not a training one: the trained ``starter`` model and the Tasks' models carry it as a
submodule, and the training loop clamps it after each optimizer step
(:meth:`memesearch.train.task.Task.after_optimizer_step`).

Example::

    >>> scale = LogitScale(init=10.0)
    >>> round(float(scale()), 3)
    10.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LogitScale(nn.Module):
    """Learnable temperature ``s = exp(log_scale)``, clamped to ``[min_scale, max_scale]``.

    The value is clamped in :meth:`forward` (so the loss never sees a scale above ``max_scale``) and
    the parameter itself by :meth:`clamp_`, which the training loop calls after every optimizer step
    (through :meth:`memesearch.train.task.Task.after_optimizer_step`), as CLIP does. The parameter is
    a scalar, so the optimizer's default rule gives it no weight decay.
    """

    def __init__(self, init: float = 1 / 0.07, *, min_scale: float = 1.0, max_scale: float = 100.0) -> None:
        super().__init__()
        if not 0 < min_scale <= init <= max_scale:
            raise ValueError(f"need 0 < min_scale <= init <= max_scale, got {min_scale}, {init}, {max_scale}")
        self.log_min = math.log(min_scale)
        self.log_max = math.log(max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)))

    def forward(self) -> Tensor:
        """The scale (a 0-d tensor), clamped."""
        return self.log_scale.clamp(self.log_min, self.log_max).exp()

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp the parameter in place (after an optimizer step)."""
        self.log_scale.clamp_(self.log_min, self.log_max)

    def extra_repr(self) -> str:
        return f"min_scale={math.exp(self.log_min):.3g}, max_scale={math.exp(self.log_max):.3g}"
