"""Settings of the HTTP server, validated once at startup and passed to :func:`create_app` (STYLE 12).

Precedence (one rule, STYLE 13): explicit values (CLI options, keyword arguments) > ``MEMESEARCH_*``
environment variables > defaults. Example::

    settings = ServeSettings.from_env(index_dir="build/index")   # token from MEMESEARCH_TOKEN, if set
    app = create_app(settings)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memesearch.errors import ConfigError

#: Default upload limit: 10 MiB per file.
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024

#: Environment variables read by :meth:`ServeSettings.from_env` (name -> field).
ENV_VARS: dict[str, str] = {
    "MEMESEARCH_INDEX": "index_dir",
    "MEMESEARCH_HOST": "host",
    "MEMESEARCH_PORT": "port",
    "MEMESEARCH_TOKEN": "token",
    "MEMESEARCH_MAX_UPLOAD_MB": "max_upload_mb",
    "MEMESEARCH_MODEL": "model",
    "MEMESEARCH_CORS_ORIGINS": "cors_origins",
    "MEMESEARCH_AUTH_READS": "auth_reads",
    "MEMESEARCH_RATE_LIMIT": "rate_limit",
}


class ServeSettings(BaseModel):
    """Everything the server needs to know, frozen once validated.

    Attributes:
        index_dir: the index directory to serve (made by ``memesearch index``).
        host, port: where :mod:`uvicorn` listens; loopback by default.
        token: the server's single bearer token (scope admin); ``None``: only the index's scoped tokens
            (``memesearch tokens create``) are accepted, and writes are disabled while none may write.
        auth_reads: reads (search, items, media, stats) need a token of scope read; off by default.
        rate_limit: API requests per second allowed per client address (bursts of twice that, at least
            10); ``None`` (the default): no limit.
        max_upload_bytes: largest accepted upload (file bytes), enforced while the body streams in.
        model: the encoder the index must have been built with (``None``: whatever the index records).
        cors_origins: origins allowed by CORS; empty (the default) means no CORS headers at all.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index_dir: Path
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: str | None = Field(None, repr=False)  # never shown in logs or reprs
    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD_BYTES, ge=1024, le=1024**3)
    model: str | None = None
    cors_origins: tuple[str, ...] = ()
    auth_reads: bool = False
    rate_limit: float | None = Field(None, gt=0, le=100_000)

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) < 8 or any(c.isspace() for c in value):
            raise ValueError(
                "the token must be at least 8 characters without spaces "
                "(try: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
            )
        return value

    @property
    def writes_enabled(self) -> bool:
        return self.token is not None

    @property
    def is_loopback(self) -> bool:
        """True when :attr:`host` only accepts connections from this machine."""
        return is_loopback_host(self.host)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> ServeSettings:
        """Build settings from ``explicit`` values, falling back to ``MEMESEARCH_*`` variables.

        ``explicit`` values that are ``None`` count as not given. ``max_upload_mb`` (a float, MiB) is
        accepted instead of ``max_upload_bytes``. Raises :class:`ConfigError` with every problem found.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var, name in ENV_VARS.items():
            if env.get(var):
                values[name] = env[var]
        values.update({k: v for k, v in explicit.items() if v is not None})
        if "cors_origins" in values and isinstance(values["cors_origins"], str):
            values["cors_origins"] = tuple(o.strip() for o in values["cors_origins"].split(",") if o.strip())
        if "max_upload_mb" in values:
            mb = values.pop("max_upload_mb")
            try:
                values["max_upload_bytes"] = int(float(mb) * 1024 * 1024)
            except ValueError:
                raise ConfigError(f"max upload size must be a number of MiB, got {mb!r}") from None
        if "index_dir" not in values:
            raise ConfigError("no index to serve: pass --index DIR or set MEMESEARCH_INDEX")
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid server settings: {problems}") from None


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` and ``::1`` are loopback; ``0.0.0.0``, ``::`` and names are not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
