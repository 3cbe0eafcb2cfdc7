"""Connections to Milvus for the Milvus vector store: a server (``http://host:19530``, token from
``MEMESEARCH_MILVUS_TOKEN``) or a milvus-lite file, which milvus-lite serves from an in-process server on
127.0.0.1 that holds the file's lock until it is released (one process per file)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError
from memesearch.index.vector_store import VectorStoreError

logger = logging.getLogger(__name__)

TOKEN_ENV = "MEMESEARCH_MILVUS_TOKEN"
LITE_FILE = "milvus.db"  # the milvus-lite database, inside the index's vectors/ folder
CONNECT_TIMEOUT_S = 10.0

# milvus-lite serves each file from one in-process server, kept (and its file lock held) until released:
# count the stores using each file so that the last one to close releases it and another process can open it
_LITE_LOCK = threading.Lock()
_LITE_USERS: dict[str, int] = {}


def pymilvus_module() -> Any:
    try:
        import pymilvus
    except ImportError:  # pragma: no cover - pymilvus is a dependency
        raise ConfigError(
            "the milvus store needs the PyPI packages pymilvus and milvus-lite: "
            "pip install pymilvus milvus-lite"
        ) from None
    return pymilvus


def reason(exc: BaseException) -> str:
    """The one-line gist of a pymilvus error."""
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(location: str | None, lite_path: Path) -> Any:
    """A ``MilvusClient`` for ``location`` (a server URI) or the milvus-lite file ``lite_path``;
    :class:`VectorStoreError` in one line naming what was tried."""
    pymilvus = pymilvus_module()
    uri = location or str(lite_path)
    remote = is_remote(uri)
    token = os.environ.get(TOKEN_ENV, "") if remote else ""
    try:
        client = pymilvus.MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        why = reason(exc)
        if not remote and "Open local milvus failed" in why:
            raise VectorStoreError(
                f"cannot open the milvus-lite file {uri} ({why}); milvus-lite lets one process open a file "
                "at a time: stop the other memesearch process using this index, or build it on a Milvus "
                "server (--store milvus:http://HOST:19530)"
            ) from None
        raise VectorStoreError(
            f"cannot reach Milvus at {uri} ({why}); check the address given to --store milvus:URI, that the "
            f"server is running, and the token in {TOKEN_ENV}"
        ) from None
    if not remote:
        with _LITE_LOCK:
            key = os.path.abspath(uri)
            _LITE_USERS[key] = _LITE_USERS.get(key, 0) + 1
    return client


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names a Milvus server (else a milvus-lite file)."""
    return uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def disconnect(client: Any, uri: str) -> None:
    """Close ``client``; the last user of a milvus-lite file also stops its in-process server (and frees
    the file for other processes)."""
    try:
        client.close()
    except Exception as exc:  # closing never hides the outcome of the work before it
        logger.debug("closing the Milvus client of %s: %s", uri, exc)
    key = os.path.abspath(uri)
    with _LITE_LOCK:
        if key not in _LITE_USERS:
            return  # a server
        _LITE_USERS[key] -= 1
        if _LITE_USERS[key] > 0:
            return
        del _LITE_USERS[key]
    try:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(key)
    except Exception as exc:
        logger.debug("releasing the milvus-lite server of %s: %s", uri, exc)


__all__ = ["LITE_FILE", "TOKEN_ENV", "connect", "disconnect", "is_remote", "pymilvus_module", "reason"]
