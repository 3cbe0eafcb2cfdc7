"""Scoped access tokens of an index, kept hashed in ``access_tokens.json`` in the index folder.

A token is ``ms_`` + 43 URL-safe characters of :func:`secrets.token_urlsafe` (256 random bits). Only
its SHA-256 is stored: a token that random cannot be guessed from a fast hash, so a slow password hash
(scrypt, PBKDF2) would only cost each request time without adding safety. Checks hash the presented
token and compare it with every stored hash by :func:`hmac.compare_digest` (constant time, no early
exit). The file is written atomically (temporary file + rename) with mode 0600, every change under an
exclusive lock (``access_tokens.lock``), so ``memesearch tokens`` and a running server can share it:
the server re-reads the file when its modification time changes, so a revocation takes effect on the
next request, without a restart.

Scopes are ordered: ``read`` < ``write`` < ``admin``; a token allows its scope and those below::

    store = TokenStore(index_dir)
    record, secret = store.create("ci", scope="write")    # secret is shown once, never stored
    store.verify(secret)                                  # -> the record, or None (unknown/revoked/expired)
    store.revoke("ci")
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError, UnknownNameError

TOKENS_FILE = "access_tokens.json"
LOCK_FILE = "access_tokens.lock"
SCOPES: tuple[str, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "ms_"
#: ``last_used`` is written back at most this often per token (seconds), so reads stay cheap.
LAST_USED_EVERY = 60.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def scope_allows(have: str, need: str) -> bool:
    """Whether a token of scope ``have`` may do what needs ``need`` (read < write < admin)."""
    return SCOPES.index(have) >= SCOPES.index(need)


def hash_token(secret: str) -> str:
    """The stored form of a token: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_expiry(text: str, *, now: float | None = None) -> float:
    """Seconds since the epoch for ``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (from now) or an ISO date."""
    from datetime import datetime

    now = time.time() if now is None else now
    match = _DURATION_RE.match(text.strip())
    if match:
        return now + int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--expires must be a duration like 30d, 12h, 90m or an ISO date like 2027-01-31, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored: never the token itself, only its hash."""

    id: str
    name: str
    scope: str
    hash: str
    created: float
    expires: float | None = None
    last_used: float | None = None

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires

    def public(self) -> dict[str, Any]:
        """The fields ``tokens list`` and the admin API show (no hash)."""
        return {k: v for k, v in asdict(self).items() if k != "hash"}


class TokenStore:
    """The tokens of the index at ``root`` (the file need not exist: then there are none)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.path = self.root / TOKENS_FILE
        self._cache: tuple[tuple[int, int], list[TokenRecord]] | None = None
        self._mutex = threading.Lock()
        self._touched: dict[str, float] = {}

    # ------------------------------------------------------------------------------------ reading

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def _read(self) -> list[TokenRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the access tokens of {self.root} ({self.path.name}): {exc}"
            ) from None
        return [TokenRecord(**row) for row in raw.get("tokens", [])]

    def records(self) -> list[TokenRecord]:
        """All tokens (revoked ones are deleted), re-read only when the file changed (one ``stat``)."""
        stamp = self._stamp()
        if stamp is None:
            return []
        with self._mutex:
            if self._cache is None or self._cache[0] != stamp:
                self._cache = (stamp, self._read())
            return list(self._cache[1])

    def verify(self, secret: str, *, now: float | None = None) -> TokenRecord | None:
        """The record of ``secret`` if it is a current token (known, not revoked, not expired), else None."""
        now = time.time() if now is None else now
        digest = hash_token(secret)
        found: TokenRecord | None = None
        for record in self.records():  # compare with every hash: the time does not depend on which matched
            if hmac.compare_digest(digest, record.hash):
                found = record
        if found is None or found.expired(now):
            return None
        if now - self._touched.get(found.id, 0.0) >= LAST_USED_EVERY:
            self._touched[found.id] = now
            with contextlib.suppress(OSError, ConfigError):
                self._update(
                    lambda rows: [replace(r, last_used=now) if r.id == found.id else r for r in rows]
                )
        return found

    # ------------------------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.root.is_dir():
            raise ConfigError(f"no index at {self.root} (make one with: memesearch index FOLDER --index DIR)")
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _update(self, change: Any) -> list[TokenRecord]:
        with self._locked():
            rows = change(self._read())
            body = json.dumps({"version": 1, "tokens": [asdict(r) for r in rows]}, indent=1)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            return list(rows)

    def create(
        self, name: str, *, scope: str = "read", expires: float | None = None
    ) -> tuple[TokenRecord, str]:
        """Add a token; returns its record and the token itself (the only time it is available)."""
        if scope not in SCOPES:
            raise UnknownNameError(f"unknown scope {scope!r}; choose one of: {', '.join(SCOPES)}")
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"token name {name!r} must be 1-64 letters, digits, '.', '_' or '-' "
                "(starting with a letter or digit)"
            )
        now = time.time()
        if expires is not None and expires <= now:
            raise ConfigError("the expiry is in the past: give a later date or a duration like 30d")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=secrets.token_hex(4),
            name=name,
            scope=scope,
            hash=hash_token(secret),
            created=now,
            expires=expires,
        )

        def add(rows: list[TokenRecord]) -> list[TokenRecord]:
            if any(r.name == name for r in rows):
                raise ConfigError(
                    f"a token named {name!r} exists already: revoke it first or pick another name"
                )
            return [*rows, record]

        self._update(add)
        return record, secret

    def revoke(self, name_or_id: str) -> TokenRecord:
        """Delete the token with this name or id; raises :class:`UnknownNameError` when there is none."""
        removed: list[TokenRecord] = []

        def drop(rows: list[TokenRecord]) -> list[TokenRecord]:
            removed.extend(r for r in rows if name_or_id in (r.name, r.id))
            if not removed:
                known = ", ".join(r.name for r in rows) or "none"
                raise UnknownNameError(f"no token named or with id {name_or_id!r} (tokens: {known})")
            return [r for r in rows if r not in removed]

        self._update(drop)
        return removed[0]
