"""The Task contract between a training method and the generic loop, and the registry of Tasks.

A Task is one method (model + data + loss + validation). The loop (:mod:`memesearch.train.loop`)
only handles devices, precision, accumulation, distribution, the optimizer, checkpoints and logging;
everything method-specific lives in the Task. The contract is split so that contrastive accumulation
(GradCache) and data parallelism work for every Task without Task code:

1. ``embed_batch(model, batch)`` encodes ONE micro-batch into per-sample tensors (leading dim = the
   micro-batch size): features (float, carrying grad), group ids (int64), anything the loss needs.
2. ``loss(model, features)`` gets those tensors concatenated over all micro-batches of the step and
   all ranks (in float32) and returns the loss of the whole contrastive batch. Parameters used only
   here (a logit scale) are fine.

So the loss must depend on the samples only through what ``embed_batch`` returns. Per-sample losses
(e.g. an OCR-presence head) are expressed by returning the head's per-sample logits as a feature.

Example (a Task in ten lines; see :mod:`memesearch.train.synthetic` for a complete one)::

    class MyTask(Task):
        def __init__(self, config: MyConfig) -> None: self.config = config
        def build_model(self) -> nn.Module: return MyTwoTower(self.config)
        def train_dataset(self) -> Dataset: return MyPairs("train")
        def embed_batch(self, model, batch):
            return {"query": model.encode_query(batch["tokens"]), "item": model.encode_item(batch["x"]),
                    "group": batch["group"]}
        def loss(self, model, f):
            return LossOutput(contrastive_loss(f["query"], f["item"], f["group"], model.logit_scale()))
        def validate(self, model, device): return {"loss": ..., "r1": ...}

    register_task("my-task", MyTask, config_cls=MyConfig)
"""

from __future__ import annotations

import enum
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor, nn
    from torch.utils.data import Dataset


class ParamRole(enum.StrEnum):
    """How the optimizer treats a parameter.

    ``NEW``: trained at ``optim.lr``. ``PRETRAINED``: a pretrained tower, trained at
    ``optim.lr * optim.coef_lr``. ``FROZEN``: ``requires_grad`` set to False and never given to the
    optimizer, so it stays bit-identical (e.g. the stage-1 QI branch while stage 2 trains QC).
    """

    NEW = "new"
    PRETRAINED = "pretrained"
    FROZEN = "frozen"


@dataclass
class LossOutput:
    """What :meth:`Task.loss` returns: the scalar loss and extra numbers to log (tensors or floats)."""

    loss: Tensor
    metrics: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """One training method. Subclasses implement the five abstract methods; the rest have defaults.

    Lifecycle, as the loop calls it::

        model = task.build_model()                       # on CPU; the loop moves it to the device
        role = task.param_role(name, p)                  # per named parameter -> optimizer groups
        ds = task.train_dataset()                        # map-style, sized; loader built by the loop
        batch = task.collate([ds[i] for i in indices])   # one micro-batch
        task.set_train_mode(model)
        feats = task.embed_batch(model, batch)           # per micro-batch, maybe twice (GradCache)
        out = task.loss(model, all_feats)                # whole contrastive batch
        task.after_optimizer_step(model)                 # e.g. clamp logit scales
        metrics = task.validate(model, device)           # validation split only, in eval mode
        files = task.checkpoint_files(model)             # extra files of each checkpoint (main rank)
    """

    @abstractmethod
    def build_model(self) -> nn.Module:
        """Build the model (random or pretrained weights) on CPU. Called once per run."""

    @abstractmethod
    def train_dataset(self) -> Dataset[Any]:
        """The training samples: a map-style dataset with ``__len__``; the loop samples and batches it.

        A dataset with per-epoch random draws may define ``set_epoch(epoch)``: the loop calls it before
        each epoch (and a resumed one), so draws can be a function of (seed, epoch, index) on every rank."""

    @abstractmethod
    def embed_batch(self, model: nn.Module, batch: Any) -> Mapping[str, Tensor]:
        """Encode one micro-batch (already on the device) into per-sample tensors.

        Every value must have the micro-batch size as its first dimension. Float tensors that
        depend on trainable parameters receive gradients through the feature cache; integer tensors
        (group ids) are gathered as they are. Called under autocast when mixed precision is on, and
        possibly twice per step with the same RNG state (GradCache re-forward): it must be a pure
        function of (parameters, batch, RNG state).
        """

    @abstractmethod
    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        """The loss of the whole contrastive batch.

        ``features`` holds the ``embed_batch`` outputs concatenated over the step's micro-batches and
        over all ranks, floats cast to float32, in global batch order. Runs outside autocast.
        """

    @abstractmethod
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Metrics on the validation split (never test), e.g. ``{"loss": .., "r1": .., "r10": ..}``.

        Called on the main rank only, with the model in eval mode, under ``torch.no_grad`` and with the
        training RNG saved and restored around it. ``TrainConfig.select_metric`` names one of the keys.
        """

    # ---- defaults -----------------------------------------------------------------------------

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        """The optimizer role of the parameter ``name`` (as in ``model.named_parameters()``).

        Default: every parameter is new. Tasks with pretrained towers return ``PRETRAINED`` for
        them and ``FROZEN`` for what must not move. A parameter built with ``requires_grad=False``
        is treated as frozen whatever this returns.
        """
        return ParamRole.NEW

    def no_weight_decay(self, name: str, param: nn.Parameter) -> bool:
        """Whether ``name`` is excluded from weight decay. Default: every parameter with fewer than
        two dimensions (biases, norm weights, logit scales, gates)."""
        return param.ndim < 2

    def collate(self, samples: list[Any]) -> Any:
        """Turn a list of dataset samples into one micro-batch. Default: ``torch`` default collation."""
        from torch.utils.data import default_collate

        return default_collate(samples)

    def set_train_mode(self, model: nn.Module) -> None:
        """Put the model in training mode before each epoch. Override to keep frozen towers in eval
        mode (their dropout off, their batch-norm statistics fixed)."""
        model.train()

    def after_optimizer_step(self, model: nn.Module) -> None:
        """Called after every optimizer step. Default: clamp every
        :class:`~memesearch.models.logit_scale.LogitScale` of the model."""
        from memesearch.models.logit_scale import LogitScale

        for module in model.modules():
            if isinstance(module, LogitScale):
                module.clamp_()

    def checkpoint_files(self, model: nn.Module) -> dict[str, bytes]:
        """Files written into every checkpoint beside the weights, ``{relative path: content}``: what a
        checkpoint needs to load on its own besides its tensors (e.g. a tokenizer trained on the data).
        Default: none. Called on the main rank each time a checkpoint is saved."""
        return {}


# ------------------------------------------------------------------------------------------------
# registry

TaskFactory = Callable[[Any], Task]


@dataclass(frozen=True)
class TaskSpec:
    """A registered Task: ``factory(config) -> Task``, where ``config`` is an instance of
    ``config_cls`` built from ``TrainConfig.task_config`` (or the raw mapping when ``config_cls`` is None)."""

    name: str
    factory: TaskFactory
    config_cls: type | None = None
    description: str = ""


_REGISTRY: dict[str, TaskSpec] = {}

# Built-in Tasks, imported on first use: name -> "module:attribute" of a TaskSpec. Tasks added to the
# package add one line here; code outside the package calls register_task().
_BUILTIN: dict[str, str] = {
    "synthetic": "memesearch.train.synthetic:TASK_SPEC",
    "clip4meme-qi": "memesearch.train.tasks.clip4meme:QI_TASK_SPEC",
    "clip4meme-qc": "memesearch.train.tasks.clip4meme:QC_TASK_SPEC",
    "ief": "memesearch.train.tasks.ief:TASK_SPEC",
    "starter": "memesearch.train.tasks.starter:TASK_SPEC",
    "clipcap": "memesearch.train.tasks.clipcap:TASK_SPEC",
    "uniclip": "memesearch.train.tasks.uniclip:TASK_SPEC",
    "uniclip-starter": "memesearch.train.tasks.uniclip_starter:TASK_SPEC",
    "object-guided": "memesearch.train.tasks.object_guided:TASK_SPEC",
}


def register_task(
    name: str, factory: TaskFactory, *, config_cls: type | None = None, description: str = ""
) -> TaskSpec:
    """Register a Task under ``name`` (re-registering a name replaces it).

    ``factory`` receives the Task's config: an instance of ``config_cls`` (a frozen dataclass whose
    fields are the allowed ``task_config`` keys, type-checked) or, without ``config_cls``, the raw
    ``task_config`` dict.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"task name must be a non-empty string, got {name!r}")
    spec = TaskSpec(name=name, factory=factory, config_cls=config_cls, description=description)
    _REGISTRY[name] = spec
    return spec


def list_tasks() -> list[str]:
    """Names of all registered and built-in Tasks."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_task_spec(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``name``; unknown names raise :class:`UnknownNameError` (lists valid ones)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _BUILTIN:
        module_name, _, attr = _BUILTIN[name].partition(":")
        spec = getattr(importlib.import_module(module_name), attr)
        if not isinstance(spec, TaskSpec):
            raise TypeError(f"{_BUILTIN[name]} is not a TaskSpec")
        _REGISTRY[name] = spec
        return spec
    raise UnknownNameError(f"unknown task {name!r}; valid tasks: {', '.join(list_tasks())}")


def resolve_task_config(name: str, task_config: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Validate ``task_config`` for Task ``name``: ``(typed config, resolved plain dict with defaults)``."""
    from memesearch.train.config import config_to_dict, dataclass_from_dict

    spec = get_task_spec(name)
    if spec.config_cls is None:
        return dict(task_config), dict(task_config)
    typed: Any = dataclass_from_dict(spec.config_cls, task_config, where="task_config")
    return typed, config_to_dict(typed)


def create_task(name: str, task_config: Mapping[str, Any] | None = None) -> tuple[Task, dict[str, Any]]:
    """Build Task ``name`` from its config mapping; returns the Task and the resolved config dict.

    Example::

        >>> task, resolved = create_task("synthetic", {"dim": 16})
        >>> resolved["dim"]
        16
    """
    typed: Any
    typed, resolved = resolve_task_config(name, task_config or {})
    task = get_task_spec(name).factory(typed)
    if not isinstance(task, Task):
        raise ConfigError(f"the factory of task {name!r} returned {type(task).__name__}, not a Task")
    return task, resolved
