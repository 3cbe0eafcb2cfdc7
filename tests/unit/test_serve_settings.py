"""Server settings (env precedence, validation) and upload filename sanitizing."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.errors import ConfigError
from memesearch.serve.settings import DEFAULT_MAX_UPLOAD_BYTES, ServeSettings, is_loopback_host
from memesearch.serve.uploads import sanitize_filename


def test_env_fills_what_is_not_given_explicitly() -> None:
    env = {
        "MEMESEARCH_INDEX": "/srv/idx",
        "MEMESEARCH_TOKEN": "from-env-123",
        "MEMESEARCH_MAX_UPLOAD_MB": "2",
    }
    s = ServeSettings.from_env(env)
    assert s.index_dir == Path("/srv/idx") and s.token == "from-env-123"
    assert s.max_upload_bytes == 2 * 1024 * 1024 and s.writes_enabled
    # explicit values win; None counts as "not given"
    s = ServeSettings.from_env(env, index_dir="other", token="explicit-456", max_upload_mb=None)
    assert (
        s.index_dir == Path("other") and s.token == "explicit-456" and s.max_upload_bytes == 2 * 1024 * 1024
    )
    assert "explicit-456" not in repr(s)


def test_defaults_are_loopback_read_only() -> None:
    s = ServeSettings.from_env({}, index_dir="idx")
    assert s.host == "127.0.0.1" and s.is_loopback and s.token is None and not s.writes_enabled
    assert s.max_upload_bytes == DEFAULT_MAX_UPLOAD_BYTES and s.cors_origins == ()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "MEMESEARCH_INDEX"),
        ({"index_dir": "i", "token": "short"}, "at least 8"),
        ({"index_dir": "i", "port": 70000}, "port"),
        ({"index_dir": "i", "max_upload_mb": "lots"}, "MiB"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        ServeSettings.from_env({}, **kwargs)


def test_loopback_hosts() -> None:
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback_host(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\笑哭了.png", "笑哭了.png"),
        ("..\u202egnp.exe", "gnp.exe"),
        (".hidden", "hidden"),
        ("a\x00b\nc.png", "abc.png"),
        ("/", None),
        ("", None),
        (None, None),
        ("x" * 500 + ".png", "x" * 200),
    ],
)
def test_sanitize_filename(name: str | None, expected: str | None) -> None:
    assert sanitize_filename(name) == expected
