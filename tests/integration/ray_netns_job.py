"""The Ray side of ``test_ray_ingest.py``, run as a script inside a network namespace that has only ``lo``.

``python ray_netns_job.py WORK OUT.json`` brings ``lo`` up, then, while a thread records every socket that
listens (TCP) or is bound (UDP) in the namespace:

* indexes the inputs ``WORK/inputs.json`` lists (made by the test) into ``WORK/ray.idx`` with the Ray engine
  (a Ray instance started here: 2 CPUs, 1 encoder actor) and the index's default enrichers;
* cache check: ``WORK/cache.idx`` (made by the test with the local engine and a counting enricher, then two
  items removed) gets those two back plus one new file with the Ray engine and the same counting enricher,
  shipped to the actor: results cached in the index must be read, not recomputed;

* error check: an enricher that raises a memesearch error in the actor stops the run with that error;

and writes the summaries, the interfaces and the sockets seen to ``OUT.json``. The test compares the
index with the one the local engine built from the same inputs.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memesearch.enrich.enrichers import EnrichContext, EnrichInput
from memesearch.errors import ConfigError


class CountingEnricher:
    """Appends the content hash of every item it enriches to ``log`` (one line each)."""

    name = "counting"
    version = "1"
    fields: tuple[str, ...] = ("meta",)

    def __init__(self, log: str) -> None:
        self.log = log

    def wants(self, item: EnrichInput) -> bool:
        return True

    def cache_key(self, item: EnrichInput) -> str:
        return item.sha256

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        with open(self.log, "a", encoding="utf-8") as f:
            f.writelines(f"{i.sha256}\n" for i in items)
        return [{"meta": {"counted": i.sha256[:8]}} for i in items]


class FailingEnricher(CountingEnricher):
    """Raises the domain error a misconfigured enricher would."""

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        raise ConfigError(f"enricher {self.name!r} is misconfigured: threshold 2.0 is not in [0, 1]")


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2 (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        got = fcntl.ioctl(s, siocgifflags, struct.pack("16sh", b"lo", 0))
        flags = struct.unpack("16sh", got[:18])[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def interfaces() -> list[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def sockets() -> set[tuple[str, str, int]]:
    """``(table, local address, port)`` of listening TCP and unconnected (receiving) UDP sockets here."""
    out: set[tuple[str, str, int]] = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if table.startswith("tcp") and fields[3] != "0A":  # 0A = LISTEN
                continue
            if table.startswith("udp") and fields[3] == "01":  # a connected UDP socket hears only its peer
                continue
            address, port = fields[1].split(":")
            out.add((table, decode_address(address), int(port, 16)))
    return out


def decode_address(hex_address: str) -> str:
    """An address as /proc/net writes it (little-endian 32-bit words) -> text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words)


class Watcher(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[tuple[str, str, int]] = set()
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.seen |= sockets()
            self.samples += 1
            self.stop.wait(0.05)


def main(argv: list[str]) -> int:
    work, out = Path(argv[0]), Path(argv[1])
    loopback_up()
    watcher = Watcher()
    watcher.start()
    from memesearch.index import Index
    from memesearch.ingest import Ingestor
    from memesearch.ingest.ray_engine import RayEngine

    result: dict[str, Any] = {"interfaces": interfaces()}
    t0 = time.perf_counter()
    with RayEngine(workers=2, actors=1) as engine:
        with Index.open(work / "ray.idx") as idx:
            inputs = json.loads((work / "inputs.json").read_text())
            result["ray"] = Ingestor(idx).add_paths(inputs, engine=engine).to_dict()
        with Index.open(work / "cache.idx") as idx:
            ingestor = Ingestor(idx, enrichers=[CountingEnricher(str(work / "counted.log"))])
            result["cache"] = ingestor.add_paths([work / "cache_inputs"], engine=engine).to_dict()
        with Index.open(work / "failing.idx") as idx:
            failing = Ingestor(idx, enrichers=[FailingEnricher("")])
            try:
                failing.add_paths([work / "cache_inputs"], engine=engine)
            except ConfigError as exc:
                result["error"] = {"type": type(exc).__name__, "message": str(exc), "items": len(idx)}
        result["sockets_while_running"] = sorted(sockets())
    watcher.stop.set()
    watcher.join()
    result["seconds"] = time.perf_counter() - t0
    result["sockets"] = sorted(watcher.seen)
    result["samples"] = watcher.samples
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
