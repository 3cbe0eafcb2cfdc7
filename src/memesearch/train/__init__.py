"""Training: one generic loop (:func:`train`), one :class:`Task` per method, losses, optimizer groups,
GradCache accumulation, torchrun data parallelism and atomic, resumable checkpoints.

Importing this package is light (no torch); the names below load their modules on first use::

    from memesearch.train import TrainConfig, train
    result = train(TrainConfig(task="synthetic", epochs=2, batch_size=16))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

_API: dict[str, str] = {
    "TrainConfig": "memesearch.train.config",
    "OptimConfig": "memesearch.train.config",
    "load_config": "memesearch.train.config",
    "apply_overrides": "memesearch.train.config",
    "Task": "memesearch.train.task",
    "ParamRole": "memesearch.train.task",
    "LossOutput": "memesearch.train.task",
    "register_task": "memesearch.train.task",
    "create_task": "memesearch.train.task",
    "list_tasks": "memesearch.train.task",
    "LogitScale": "memesearch.models.logit_scale",
    "contrastive_loss": "memesearch.train.losses",
    "multi_positive_infonce": "memesearch.train.losses",
    "accumulate_gradients": "memesearch.train.gradcache",
    "train": "memesearch.train.loop",
    "TrainResult": "memesearch.train.run_state",
    "load_trained_model": "memesearch.train.checkpoint",
    "run_training": "memesearch.train.run",
}

__all__ = [
    "LogitScale",
    "LossOutput",
    "OptimConfig",
    "ParamRole",
    "Task",
    "TrainConfig",
    "TrainResult",
    "accumulate_gradients",
    "apply_overrides",
    "contrastive_loss",
    "create_task",
    "list_tasks",
    "load_config",
    "load_trained_model",
    "multi_positive_infonce",
    "register_task",
    "run_training",
    "train",
]


__getattr__, __dir__ = lazy_api(__name__, _API, globals())


if TYPE_CHECKING:  # pragma: no cover
    from memesearch.models.logit_scale import LogitScale
    from memesearch.train.checkpoint import load_trained_model
    from memesearch.train.config import OptimConfig, TrainConfig, apply_overrides, load_config
    from memesearch.train.gradcache import accumulate_gradients
    from memesearch.train.loop import train
    from memesearch.train.losses import contrastive_loss, multi_positive_infonce
    from memesearch.train.run import run_training
    from memesearch.train.run_state import TrainResult
    from memesearch.train.task import LossOutput, ParamRole, Task, create_task, list_tasks, register_task
