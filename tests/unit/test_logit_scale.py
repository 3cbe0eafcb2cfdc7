"""The learnable logit scale of the models: clamped in forward and in place."""

from __future__ import annotations

import math

import torch

from memesearch.models.logit_scale import LogitScale


def test_logit_scale_is_clamped_in_forward_and_in_place() -> None:
    scale = LogitScale(init=10.0, max_scale=100.0)
    assert math.isclose(float(scale().detach()), 10.0, rel_tol=1e-6)
    with torch.no_grad():
        scale.log_scale.fill_(10.0)  # exp(10) >> 100
    assert math.isclose(float(scale().detach()), 100.0, rel_tol=1e-6)
    scale.clamp_()
    assert math.isclose(float(scale.log_scale.detach()), math.log(100.0), rel_tol=1e-6)
