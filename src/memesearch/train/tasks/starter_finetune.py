"""How a Task fine-tunes the shipped starter's image tower (object-guided, uniclip-starter): which
parameters train, and batch norm kept as it was learnt."""

from __future__ import annotations

from torch import nn

from memesearch.train.task import ParamRole


def starter_param_role(name: str, *, pretrained: bool) -> ParamRole:
    """The emotion gate (``qi.``) stays frozen — these datasets carry no emotion words; the tower
    (``tower.``) is pretrained when it was initialised from weights; the rest is new."""
    if name.startswith("qi."):
        return ParamRole.FROZEN
    if name.startswith("tower.") and pretrained:
        return ParamRole.PRETRAINED
    return ParamRole.NEW


def train_keeping_batch_norm(model: nn.Module, *, freeze_bn: bool) -> None:
    """``model.train()``, with every BatchNorm2d left in eval mode when ``freeze_bn`` (its statistics
    fixed at the pretrained values)."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
