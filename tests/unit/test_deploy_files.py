"""The deployment files parse and keep their promises (they are not started by the tests)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_milvus_compose_runs_standalone_milvus_published_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "milvus" / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"etcd", "minio", "standalone"}
    milvus = services["standalone"]
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert set(milvus["depends_on"]) == {"etcd", "minio"}
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(p.startswith(("127.0.0.1:", "${MILVUS_BIND:-127.0.0.1}:")) for p in published)
    assert any(p.endswith(":19530:19530") for p in published)  # what --store milvus:URI connects to
