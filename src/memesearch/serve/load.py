"""A load driver for a running ``memesearch serve``: concurrent clients mixing searches, uploads and
deletes, with per-operation latency percentiles and every error kept.

Used by the load test of the test suite (a few clients for a few seconds) and ``bench/bench_load.py``
(20 clients for 60 s). Standard library only (``http.client``, threads: one keep-alive connection per
client), so it runs wherever the package does. Each client loops until the time is up, drawing one of:

* ``search_text`` — ``GET /api/search?q=...`` (200, every hit a complete item);
* ``search_image`` — ``POST /api/search/image`` with a PNG (200, every hit a complete item);
* ``upload`` — ``POST /api/items`` with a PNG no one sent before (201, the new item's id);
* ``delete`` — ``DELETE /api/items/{id}`` of an item this client uploaded (200, ``removed: 1``).

Anything else (another status, a body that is not the expected JSON, a connection error) is an error of
that operation. A client deletes only its own uploads, so no two clients race for one item and every
answer is predictable: afterwards the uploads kept must all be there and the deleted ones gone
(:func:`check_after`)::

    server = start_server(index_dir, token="...")          # `memesearch serve` in a child process
    report = run_load(server.url, token="...", clients=20, seconds=60)
    report.errors, report.ops["upload"].percentile(99)
    problems = check_after(server.url, report)             # [] when consistent
    server.stop()
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OPERATIONS: tuple[str, ...] = ("search_text", "search_image", "upload", "delete")
#: The default mix: mostly reads, as a served index sees, with a steady stream of writes.
DEFAULT_MIX: dict[str, float] = {"search_text": 0.45, "search_image": 0.25, "upload": 0.2, "delete": 0.1}
DEFAULT_QUERIES: tuple[str, ...] = (
    "so tired",
    "happy cat",
    "monday again",
    "red circle",
    "blue square",
    "good night",
    "太累了",
    "开心",
    "angry",
    "pizza party",
)
#: How many error messages a report keeps (the count is always complete).
MAX_ERROR_SAMPLES = 20


def png_bytes(seed: int, size: int = 48) -> bytes:
    """A PNG of random coloured noise, different for every ``seed`` (so each upload is a new item)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class OpStats:
    """Latencies (ms, of every answered request) and errors of one operation."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None

    def to_dict(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "count": len(self.latencies_ms),
            "errors": self.errors,
            "p50_ms": ms(self.percentile(50)),
            "p99_ms": ms(self.percentile(99)),
            "max_ms": ms(max(self.latencies_ms) if self.latencies_ms else None),
        }


@dataclass
class LoadReport:
    """What :func:`run_load` did: per-operation stats, the uploads kept and deleted, error samples."""

    clients: int
    seconds: float
    ops: dict[str, OpStats]
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.ops.values())

    @property
    def requests(self) -> int:
        return sum(len(s.latencies_ms) for s in self.ops.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "wall_s": round(self.wall_s, 2),
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.wall_s, 1) if self.wall_s else None,
            "errors": self.errors,
            "ops": {name: s.to_dict() for name, s in self.ops.items()},
            "uploads_kept": len(self.kept),
            "uploads_deleted": len(self.deleted),
            "error_samples": list(self.error_samples),
        }


class _Client:
    """One client: a keep-alive connection, its own uploads, its own random stream."""

    def __init__(self, url: str, token: str, seed: int, report: LoadReport, lock: threading.Lock) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.rng = random.Random(seed)
        self.seed = seed
        self.report = report
        self.lock = lock
        self.conn: http.client.HTTPConnection | None = None
        self.mine: list[str] = []
        self.deleted: list[str] = []
        self.sent = 0

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed an idle keep-alive connection: reconnect once, then it is an error
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def fail(self, op: str, message: str) -> None:
        with self.lock:
            self.report.ops[op].errors += 1
            if len(self.report.error_samples) < MAX_ERROR_SAMPLES:
                self.report.error_samples.append(f"{op}: {message}")

    def run_one(self, op: str, queries: Sequence[str], images: Sequence[bytes]) -> None:
        if op == "delete" and not self.mine:
            op = "upload"
        auth = {"Authorization": f"Bearer {self.token}"}
        t0 = time.perf_counter()
        try:
            if op == "search_text":
                q = urllib.parse.quote(self.rng.choice(queries))
                status, body = self.request("GET", f"/api/search?q={q}&k=10")
                expect = 200
            elif op == "search_image":
                png = self.rng.choice(images)
                status, body = self.request(
                    "POST", "/api/search/image?k=10", png, {"Content-Type": "image/png"}
                )
                expect = 200
            elif op == "upload":
                self.sent += 1
                png = png_bytes(self.seed * 1_000_003 + self.sent)
                status, body = self.request(
                    "POST", "/api/items?filename=load.png", png, {"Content-Type": "image/png", **auth}
                )
                expect = 201
            else:
                victim = self.mine.pop(self.rng.randrange(len(self.mine)))
                status, body = self.request("DELETE", f"/api/items/{victim}", None, auth)
                expect = 200
        except (OSError, http.client.HTTPException) as exc:
            self.fail(op, f"{type(exc).__name__}: {exc}")
            return
        took = (time.perf_counter() - t0) * 1000.0
        with self.lock:
            self.report.ops[op].latencies_ms.append(took)
        if status != expect:
            self.fail(op, f"status {status} (expected {expect}): {body[:300]!r}")
            return
        try:
            data = json.loads(body)
        except ValueError:
            self.fail(op, f"not JSON: {body[:200]!r}")
            return
        problem = _check_body(op, data)
        if problem:
            self.fail(op, problem)
        elif op == "upload":
            self.mine.append(str(data["id"]))
        elif op == "delete":
            self.deleted.append(victim)

    def loop(
        self, deadline: float, mix: dict[str, float], queries: Sequence[str], images: Sequence[bytes]
    ) -> None:
        names = list(mix)
        weights = [mix[n] for n in names]
        try:
            while time.monotonic() < deadline:
                self.run_one(self.rng.choices(names, weights)[0], queries, images)
        finally:
            if self.conn is not None:
                self.conn.close()


_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def _check_body(op: str, data: Any) -> str | None:
    """What is wrong with a 2xx body of ``op`` (None when nothing): every search hit must be a complete
    item (id, its record with media type and size); an upload names its new item; a delete removed one."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    if op.startswith("search"):
        for hit in data.get("hits", []):
            item = hit.get("item") or {}
            if not _ID_RE.match(str(hit.get("id"))) or item.get("id") != hit.get("id"):
                return f"hit without a matching item record: {str(hit)[:200]}"
            if not item.get("media") or not item.get("width") or not item.get("sha256"):
                return f"hit {hit['id']} with an incomplete item record: {str(item)[:200]}"
        return None
    if op == "upload":
        return None if _ID_RE.match(str(data.get("id"))) and data.get("created") is True else str(data)[:200]
    return None if data.get("removed") == 1 else f"delete removed {data.get('removed')!r}, expected 1"


def run_load(
    url: str,
    *,
    token: str,
    clients: int = 20,
    seconds: float = 60.0,
    mix: dict[str, float] | None = None,
    queries: Sequence[str] = DEFAULT_QUERIES,
    seed: int = 0,
) -> LoadReport:
    """Run ``clients`` concurrent clients against the server at ``url`` for ``seconds``."""
    mix = dict(mix or DEFAULT_MIX)
    unknown = set(mix) - set(OPERATIONS)
    if unknown:
        raise ValueError(f"unknown operations in the mix: {sorted(unknown)}; known: {OPERATIONS}")
    report = LoadReport(clients, seconds, {name: OpStats() for name in mix})
    images = [png_bytes((1 << 40) + i) for i in range(8)]  # search images: never uploaded
    lock = threading.Lock()
    workers = [_Client(url, token, seed * 10_007 + i + 1, report, lock) for i in range(clients)]
    t0 = time.monotonic()
    deadline = t0 + seconds
    threads = [
        threading.Thread(target=w.loop, args=(deadline, mix, queries, images), daemon=True) for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.wall_s = time.monotonic() - t0
    for w in workers:
        report.kept.extend(w.mine)
        report.deleted.extend(w.deleted)
    return report


def check_after(url: str, report: LoadReport) -> list[str]:
    """Problems found after a load run (``[]`` when none): every upload kept answers with its item and
    its media, every deleted one answers 404."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    problems: list[str] = []
    try:
        for item_id in report.kept:
            for path in (f"/api/items/{item_id}", f"/api/items/{item_id}/image"):
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    problems.append(f"GET {path}: {resp.status} for an upload that was not deleted")
        for item_id in report.deleted:
            conn.request("GET", f"/api/items/{item_id}")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 404:
                problems.append(f"GET /api/items/{item_id}: {resp.status} for a deleted upload")
    finally:
        conn.close()
    return problems


# ------------------------------------------------------------------------------ a server to load


@dataclass
class ServerProcess:
    """A ``memesearch serve`` child process listening on 127.0.0.1 (:func:`start_server`)."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str]

    def stop(self, *, kill: bool = False, timeout: float = 60.0) -> int:
        """SIGTERM (a clean shutdown: the index saves and closes) or SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)


_URL_RE = re.compile(r"serving \d+ items at (http://127\.0\.0\.1:\d+)/")


def start_server(
    index_dir: str | os.PathLike[str],
    *,
    token: str,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> ServerProcess:
    """Start ``memesearch serve --index DIR --port 0 --token TOKEN`` (127.0.0.1, any free port) in a child
    process and wait until it listens; raises ``RuntimeError`` with its output when it does not."""
    cmd = [
        sys.executable,
        "-m",
        "memesearch",
        "serve",
        "--index",
        str(Path(index_dir)),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token",
        token,
        *extra_args,
    ]
    child_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env, bufsize=1
    )
    output: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            match = _URL_RE.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(timeout)
    if not found:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise RuntimeError("memesearch serve did not start:\n" + "\n".join(output[-30:]))
    return ServerProcess(proc, found[0], output)


def upload_until_killed(
    server: ServerProcess,
    *,
    token: str,
    clients: int = 4,
    acks: int = 12,
    delay_s: float = 0.05,
    timeout_s: float = 240.0,
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """``clients`` threads upload new pictures until ``acks`` uploads were acknowledged (2xx), then, after
    ``delay_s`` (uploads in flight), the server gets SIGKILL. Returns ``(acknowledged ids, unexpected
    answers)``; an upload cut off by the kill is neither (it was never acknowledged)."""
    parts = urllib.parse.urlsplit(server.url)
    acked: list[str] = []
    failures: list[str] = []
    enough = threading.Event()
    lock = threading.Lock()

    def client(k: int) -> None:
        n = 0
        while server.proc.poll() is None:
            n += 1
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
            try:
                conn.request(
                    "POST",
                    "/api/items",
                    body=png_bytes(seed * 1_000_003 + 10_000 * k + n),
                    headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"},
                )
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                return  # the server is gone
            finally:
                conn.close()
            with lock:
                if 200 <= resp.status < 300:
                    acked.append(str(json.loads(body)["id"]))
                    if len(acked) >= acks:
                        enough.set()
                else:
                    failures.append(f"{resp.status}: {body[:200]!r}")

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    reached = enough.wait(timeout_s)
    time.sleep(delay_s)
    server.stop(kill=True)
    for t in threads:
        t.join(timeout=120)
    if not reached:
        failures.append(f"only {len(acked)} uploads acknowledged in {timeout_s:g} s")
    return list(acked), failures
