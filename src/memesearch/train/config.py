"""Typed, frozen training configuration: load/save YAML or JSON, ``key=value`` overrides with type checks.

A run is described by one :class:`TrainConfig` (the generic loop's settings) holding an
:class:`OptimConfig` and the Task's own settings in ``task_config`` (a mapping that the Task registry
turns into the Task's typed config, see :mod:`memesearch.train.task`). Precedence, written once:
defaults < preset < config file < ``--set`` overrides.

Example::

    >>> cfg = TrainConfig(task="synthetic", batch_size=32)
    >>> cfg = apply_overrides(cfg, ["optim.lr=3e-4", "epochs=2", "task_config.dim=16"])
    >>> cfg.optim.lr, cfg.epochs, cfg.task_config["dim"]
    (0.0003, 2, 16)
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from memesearch.errors import ConfigError
from memesearch.utils.io import atomic_write_text

T = TypeVar("T")

Precision = Literal["auto", "fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with parameter groups and a warmup + cosine schedule (stepped per optimizer step).

    ``lr`` is the learning rate of new layers; parameters a Task marks as pretrained towers train at
    ``lr * coef_lr``. ``warmup_steps`` and ``warmup_ratio`` (fraction of all steps) are alternatives:
    set at most one. ``grad_clip`` is a global-norm clip; 0 disables it.
    """

    lr: float = 1e-4
    coef_lr: float = 1.0
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr", self.lr, "a positive number")
        _check(self.coef_lr >= 0, "optim.coef_lr", self.coef_lr, "a number >= 0")
        _check(self.weight_decay >= 0, "optim.weight_decay", self.weight_decay, "a number >= 0")
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", self.betas, "two numbers in [0, 1)")
        _check(self.warmup_steps >= 0, "optim.warmup_steps", self.warmup_steps, "an integer >= 0")
        _check(0 <= self.warmup_ratio < 1, "optim.warmup_ratio", self.warmup_ratio, "a fraction in [0, 1)")
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", self.min_lr_ratio, "a fraction in [0, 1]")
        _check(self.grad_clip >= 0, "optim.grad_clip", self.grad_clip, "a number >= 0 (0 disables clipping)")
        if self.warmup_steps and self.warmup_ratio:
            raise ConfigError(
                f"optim.warmup_steps={self.warmup_steps} and optim.warmup_ratio={self.warmup_ratio} are both "
                "set; set only one of them (the other to 0)"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Everything the generic training loop needs; the Task's own settings live in ``task_config``.

    ``batch_size`` is the contrastive batch of one optimizer step, over all ranks and all accumulation
    micro-batches: each forward pass holds ``batch_size / (world_size * accum_steps)`` samples, and the
    loss always sees all ``batch_size`` (GradCache-style accumulation, features gathered across ranks).
    ``max_steps`` caps the run (and the LR schedule) at that many optimizer steps.
    ``stop_after_steps`` pauses the run when the step counter reaches it: a checkpoint is written and
    ``--resume`` continues with the same schedule and data order, as if never stopped.
    Best-checkpoint selection uses ``select_metric`` of the Task's validation metrics (never test).
    ``init_from`` (a run directory, whose best checkpoint is used, or a checkpoint directory) initialises
    the model before training, e.g. stage 2 (QC) from the selected stage-1 (QI) model: tensors are
    matched by name and shape; parameters the checkpoint lacks keep their fresh initialisation.
    """

    task: str = "synthetic"
    task_config: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    epochs: int = 1
    batch_size: int = 64
    accum_steps: int = 1
    max_steps: int | None = None
    stop_after_steps: int | None = None
    precision: Precision = "auto"
    device: str = "auto"
    num_workers: int = 0
    log_every: int = 10
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    validate_every: int = 1
    select_metric: str = "loss"
    select_mode: Literal["min", "max"] = "min"
    output_dir: str = "runs"
    run_name: str | None = None
    init_from: str | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        _check(bool(self.task), "task", self.task, "a registered task name")
        _check(self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        _check(self.accum_steps >= 1, "accum_steps", self.accum_steps, "an integer >= 1")
        _check(
            self.max_steps is None or self.max_steps >= 1,
            "max_steps",
            self.max_steps,
            "null or an integer >= 1",
        )
        _check(
            self.stop_after_steps is None or self.stop_after_steps >= 1,
            "stop_after_steps",
            self.stop_after_steps,
            "null or an integer >= 1",
        )
        _check(self.num_workers >= 0, "num_workers", self.num_workers, "an integer >= 0")
        _check(self.log_every >= 1, "log_every", self.log_every, "an integer >= 1")
        _check(
            self.checkpoint_every >= 0,
            "checkpoint_every",
            self.checkpoint_every,
            "an integer >= 0 (0: epochs)",
        )
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, "an integer >= 1")
        _check(self.validate_every >= 1, "validate_every", self.validate_every, "an integer >= 1")
        if self.batch_size % self.accum_steps:
            raise ConfigError(
                f"batch_size={self.batch_size} is not divisible by accum_steps={self.accum_steps}; "
                "every micro-batch must have the same size — choose a batch_size that is a multiple of "
                "accum_steps"
            )


# Keys that may differ between a run's saved config and the config used to resume it: they change
# logging, pausing or bookkeeping, never the training trajectory.
RESUME_SAFE_KEYS: frozenset[str] = frozenset(
    {
        "stop_after_steps",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "validate_every",
        "num_workers",
        "device",
        "output_dir",
        "run_name",
    }
)


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: got {value!r}, expected {expected}")


# --------------------------------------------------------------------------------------------------
# dict <-> dataclass with type checks


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON/YAML-ready data (tuples become lists)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a config dataclass instance, got {type(config).__name__}")
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, checking names and types.

    Unknown keys raise :class:`ConfigError` naming the closest valid key; values are converted only
    where the conversion is lossless (an int for a float field, a numeric string for a float field,
    because YAML reads ``1e-4`` as a string). Nested dataclass fields take nested mappings. Tasks use
    this for their own config class.

    Example::

        >>> dataclass_from_dict(OptimConfig, {"lr": "1e-4", "betas": [0.9, 0.98]}).betas
        (0.9, 0.98)
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        moved = getattr(cls, "MOVED_KEYS", {}).get(key)
        if key not in names and moved:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"config key {dotted!r} is now {prefix + moved!r}; write it there")
        if key not in names:
            raise ConfigError(
                f"unknown config key {dotted!r}{_suggest(str(key), names, f'{where}.' if where else '')}; "
                f"valid keys: {', '.join(names)}"
            )
        kwargs[key] = _coerce(value, hints[key], dotted)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field without default is missing
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def _suggest(key: str, names: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check (and losslessly convert) ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return copy.deepcopy(value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: got {value!r}, expected {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: got {value!r}, expected one of {', '.join(repr(a) for a in args)}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: is a section; expected a mapping of its keys, got {value!r}")
        return dataclass_from_dict(tp, value, where=key)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: got {value!r}, expected a list ({_type_name(tp)})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: got {len(value)} values {list(value)!r}, expected {len(args)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: got {value!r}, expected a list")
        inner = args[0] if args else Any
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: got {value!r}, expected a mapping")
        return copy.deepcopy(dict(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        raise ConfigError(f"{key}: got {value!r}, expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: got {value!r}, expected an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-4" as a string
            except ValueError:
                pass
        raise ConfigError(f"{key}: got {value!r}, expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: got {value!r}, expected a string")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: got {value!r}, expected {_type_name(tp)}")


_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# --------------------------------------------------------------------------------------------------
# files


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON config file into a mapping (not yet validated)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass an existing .yaml or .json file")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}"
        )
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a :class:`TrainConfig` from YAML/JSON and apply ``key=value`` overrides."""
    config = train_config_from_dict(read_config_file(path))
    return apply_overrides(config, overrides)


def train_config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Validate a mapping (from a file or a checkpoint) into a :class:`TrainConfig`."""
    return dataclass_from_dict(TrainConfig, data)


def save_config(config: Any, path: str | Path) -> None:
    """Write a config dataclass as YAML (``.yaml``/``.yml``) or JSON (anything else), atomically."""
    import yaml

    path = Path(path)
    data = config_to_dict(config)
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)


# --------------------------------------------------------------------------------------------------
# overrides


def parse_override(text: str) -> tuple[str, str]:
    """Split ``"optim.lr=1e-4"`` into ``("optim.lr", "1e-4")``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. --set optim.lr=1e-4)")
    return key, value.strip()


def set_in_mapping(data: dict[str, Any], dotted: str, raw: str | Any) -> None:
    """Set ``data[a][b] = value`` for ``dotted = "a.b"``; string values are parsed as YAML scalars."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {part!r} is {child!r}, not a section")
        node = child
    node[parts[-1]] = _parse_scalar(raw) if isinstance(raw, str) else raw


def _parse_scalar(raw: str) -> Any:
    """YAML scalar parsing (lists, null, true, numbers); strings the field's type converts later."""
    import yaml

    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw
    if isinstance(value, str):
        try:  # YAML 1.1 leaves "1e-4" a string; the task_config dict has no types to convert it later
            return float(value) if any(c in value.lower() for c in ".e") and value.strip() else value
        except ValueError:
            return value
    return value


def apply_overrides(config: TrainConfig, overrides: Sequence[str]) -> TrainConfig:
    """Return ``config`` with ``key=value`` overrides applied (dotted keys, type-checked).

    Keys of the loop and of ``optim`` are checked against the dataclass types here; keys under
    ``task_config`` are checked when the Task builds its typed config.

    Example::

        >>> apply_overrides(TrainConfig(), ["optim.lr=0.001"]).optim.lr
        0.001
    """
    if not overrides:
        return config
    data = config_to_dict(config)
    for text in overrides:
        key, raw = parse_override(text)
        top = key.split(".")[0]
        valid = [f.name for f in dataclasses.fields(TrainConfig)]
        if top not in valid:
            raise ConfigError(
                f"unknown config key {key!r}{_suggest(top, valid)}; valid keys: {', '.join(valid)}"
            )
        if key in ("optim", "task_config"):
            raise ConfigError(f"{key!r} is a section; set one of its keys, e.g. --set {key}.NAME=VALUE")
        if top == "optim" and "." in key:
            sub = key.split(".", 1)[1]
            valid_sub = [f.name for f in dataclasses.fields(OptimConfig)]
            if sub not in valid_sub:
                raise ConfigError(
                    f"unknown config key {key!r}{_suggest(sub, valid_sub, prefix='optim.')}; "
                    f"valid keys of optim: {', '.join(valid_sub)}"
                )
        elif top not in ("task_config",) and "." in key:
            raise ConfigError(f"{top!r} is not a section; use --set {top}=VALUE")
        # strings stay strings for typed fields (the dataclass coercion converts them); task_config
        # values have no declared type here, so they are parsed as YAML scalars.
        set_in_mapping(data, key, raw if top == "task_config" else _typed_raw(raw))
    return train_config_from_dict(data)


def _typed_raw(raw: str) -> Any:
    """Parse a typed field's override value: null/lists as YAML, everything else left to the coercion."""
    import yaml

    stripped = raw.strip()
    if stripped.lower() in ("null", "none", "~"):
        return None
    if stripped.startswith("[") or stripped.startswith("{"):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot parse {raw!r}: {exc}") from exc
    return stripped


def merge_dicts(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge of two config mappings; ``top`` wins (used for preset < file layering)."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ between two config mappings: ``[(key, a_value, b_value)]``."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(a) | set(b)):
        dotted = f"{prefix}{key}"
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out.extend(config_diff(va, vb, dotted + "."))
        elif _plain(va) != _plain(vb):
            out.append((dotted, None if va is _MISSING else va, None if vb is _MISSING else vb))
    return out


_MISSING = object()
