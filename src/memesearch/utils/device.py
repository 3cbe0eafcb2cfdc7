"""Device and dtype selection for torch models.

One rule everywhere: ``device=None`` means CUDA when it is available, else CPU; ``dtype=None`` means
float32. Strings are accepted so that configs and CLI options stay plain text::

    >>> resolve_device(None)                  # doctest: +SKIP
    'cuda'  # on a GPU machine, 'cpu' otherwise
    >>> resolve_dtype("bf16")                 # doctest: +SKIP
    torch.bfloat16
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

# accepted spellings -> torch attribute name
_DTYPES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def resolve_device(device: str | None = None) -> str:
    """Return the torch device string to use.

    ``None`` picks ``"cuda"`` when a GPU is visible, else ``"cpu"``. An explicit CUDA device on a machine
    without one raises :class:`ConfigError` instead of failing later inside torch.
    """
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N' or None (auto)"
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but torch sees no CUDA GPU here; "
            "use device='cpu' or leave it unset"
        )
    return str(parsed)


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """A floating torch dtype from a name (``"fp16"``, ``"bf16"``, ...), a dtype, or ``None`` (float32)."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ConfigError(f"dtype must be a floating point type, got {dtype}")
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; expected one of {', '.join(sorted(_DTYPES))}")
    resolved: torch.dtype = getattr(torch, _DTYPES[key])
    return resolved


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"`` (for self-describing configs)."""
    return str(dtype).removeprefix("torch.")


def dtype_label(dtype: str | torch.dtype | None = None) -> str:
    """The name of a floating dtype (``"fp16"`` -> ``"float16"``, ``None`` -> ``"float32"``) without
    importing torch for a name given as text (a torch dtype object means torch is loaded already)."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, str):
        key = dtype.lower().removeprefix("torch.")
        if key not in _DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; expected one of {', '.join(sorted(_DTYPES))}")
        return _DTYPES[key]
    return dtype_name(resolve_dtype(dtype))
