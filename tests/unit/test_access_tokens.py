"""The index's scoped access tokens: stored hashed (0600), verified, expired, revoked; and the CLI."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from memesearch.cli.main import main
from memesearch.errors import ConfigError, UnknownNameError
from memesearch.index.access import TOKENS_FILE, TokenStore, hash_token, parse_expiry, scope_allows


def test_create_stores_only_a_hash_in_a_private_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    record, secret = store.create("ci", scope="write")
    assert secret.startswith("ms_") and len(secret) >= 43
    text = (tmp_path / TOKENS_FILE).read_text()
    assert secret not in text and secret[3:] not in text
    assert json.loads(text)["tokens"][0]["hash"] == hash_token(secret) == record.hash
    assert stat.S_IMODE((tmp_path / TOKENS_FILE).stat().st_mode) == 0o600
    first, second = store.verify(secret), TokenStore(tmp_path).verify(secret)
    assert first is not None and second is not None and first.id == second.id == record.id
    assert store.verify(secret + "x") is None and store.verify("") is None


def test_scopes_are_ordered() -> None:
    assert scope_allows("admin", "write") and scope_allows("write", "read") and scope_allows("read", "read")
    assert not scope_allows("read", "write") and not scope_allows("write", "admin")


def test_revoke_by_name_or_id_and_expiry(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    a, secret_a = store.create("a", scope="read")
    _, secret_b = store.create("b", scope="admin")
    with pytest.raises(ConfigError, match="exists already"):
        store.create("a")
    with pytest.raises(UnknownNameError, match="read, write, admin"):
        store.create("c", scope="root")
    store.revoke(a.id)
    assert store.verify(secret_a) is None and store.verify(secret_b) is not None
    store.revoke("b")
    assert store.verify(secret_b) is None and store.records() == []
    with pytest.raises(UnknownNameError, match="no token"):
        store.revoke("b")
    _, soon = store.create("soon", expires=time.time() + 60)
    assert store.verify(soon) is not None
    assert store.verify(soon, now=time.time() + 61) is None


def test_verify_records_last_use(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    _, secret = store.create("used")
    assert store.records()[0].last_used is None
    store.verify(secret)
    assert TokenStore(tmp_path).records()[0].last_used is not None


def test_parse_expiry() -> None:
    assert parse_expiry("30d", now=0) == 30 * 86400
    assert parse_expiry("12h", now=10) == 10 + 12 * 3600
    assert parse_expiry("2027-01-31") == pytest.approx(1801353600)
    with pytest.raises(ConfigError, match="duration"):
        parse_expiry("soon")


def test_cli_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idx = str(tmp_path)
    assert main(["tokens", "create", "--index", idx, "--name", "x"]) == 2  # not an index folder
    assert "no index.json" in capsys.readouterr().err
    (tmp_path / "index.json").write_text("{}")
    assert (
        main(["tokens", "create", "--index", idx, "--name", "phone", "--scope", "read", "--expires", "7d"])
        == 0
    )
    out = capsys.readouterr()
    secret = out.out.strip()
    assert secret.startswith("ms_") and "shown only this once" in out.err
    assert TokenStore(tmp_path).verify(secret) is not None

    assert main(["tokens", "list", "--index", idx]) == 0
    listing = capsys.readouterr().out
    assert "phone" in listing and "read" in listing and secret not in listing
    assert main(["tokens", "list", "--index", idx, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "phone" and row["scope"] == "read" and row["expires"] > time.time()
    assert "hash" not in row and row["last_used"] is not None

    assert main(["tokens", "revoke", "phone", "--index", idx]) == 0
    assert "revoked" in capsys.readouterr().out
    assert TokenStore(tmp_path).verify(secret) is None
    assert main(["tokens", "revoke", "phone", "--index", idx]) == 2
    assert "no token" in capsys.readouterr().err
    assert main(["tokens", "create", "--index", idx, "--name", "x", "--scope", "root"]) == 2
    assert main(["tokens", "create", "--index", str(tmp_path / "nope"), "--name", "x"]) == 2
    assert "no index" in capsys.readouterr().err


def test_serve_settings_from_env(tmp_path: Path) -> None:
    from memesearch.serve.settings import ServeSettings

    default = ServeSettings.from_env(env={}, index_dir=tmp_path)
    assert default.auth_reads is False and default.rate_limit is None
    env = {"MEMESEARCH_AUTH_READS": "1", "MEMESEARCH_RATE_LIMIT": "5"}
    settings = ServeSettings.from_env(env=env, index_dir=tmp_path)
    assert settings.auth_reads is True and settings.rate_limit == 5.0
    with pytest.raises(ConfigError, match="rate_limit"):
        ServeSettings.from_env(env={"MEMESEARCH_RATE_LIMIT": "-1"}, index_dir=tmp_path)


def test_serve_refuses_a_public_host_without_any_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMESEARCH_TOKEN", raising=False)
    assert main(["serve", "--index", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "memesearch tokens create" in capsys.readouterr().err


def test_concurrent_changes_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = TokenStore(tmp_path)
    _, keep = store.create("keep", scope="admin")

    def work(i: int) -> str:
        mine = TokenStore(tmp_path)  # its own lock file descriptor, as another process would have
        _, secret = mine.create(f"t{i}", scope="read")
        mine.verify(keep)  # writes last_used back while others create
        return secret

    with ThreadPoolExecutor(8) as pool:
        secrets = list(pool.map(work, range(24)))
    fresh = TokenStore(tmp_path)
    assert len(fresh.records()) == 25
    assert all(fresh.verify(s) is not None for s in [keep, *secrets])
