"""Benchmark: ``kill -9`` of ``memesearch serve`` in the middle of uploads, again and again.

Each round starts ``memesearch serve`` on the same index (127.0.0.1, a child process), lets ``--clients``
clients upload new pictures until a random number of uploads (``--min-acks``..``--max-acks``) were
acknowledged, waits a random moment (uploads in flight), sends SIGKILL, and looks at what the crash left
(media files no row references, before any recovery). The next round's start is the restart: once it
listens, every upload acknowledged so far must be in the index with its file. At the end the index is
opened after a clean stop and checked at rest: every item has its image vector and its file, no media file
lacks its item. Writes ``--out`` (JSON). Run by hand::

    nice -n 10 .venv/bin/python bench/bench_kill.py --rounds 10

Exits 1 when an acknowledged upload is lost or the index is not consistent.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memesearch.index import Index
from memesearch.index.recovery import orphan_media
from memesearch.ingest import add_paths
from memesearch.serve.load import start_server, upload_until_killed
from memesearch.utils.synthetic import shapes_image

TOKEN = "bench-kill-token-0123456789"


def present(root: Path, ids: set[str]) -> set[str]:
    """The ids of ``ids`` the index holds with a readable file."""
    with Index.open(root, readonly=True) as idx:
        found = set()
        for item_id in ids:
            path = idx.media_path(item_id) if idx.get(item_id) is not None else None
            if path is not None and path.is_file():
                found.add(item_id)
        return found


def at_rest(root: Path) -> dict[str, Any]:
    with Index.open(root, readonly=True) as idx:
        ids, _ = idx.all_vectors("image")
        items = idx.items(ids.tolist())
        return {
            "items": len(idx),
            "image_vectors": int(ids.size),
            "items_without_file": sum(1 for i in items.values() if idx.media_path(i.id) is None),
            "unreferenced_media_files": len(orphan_media(root, idx.store)),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--min-acks", type=int, default=2)
    ap.add_argument("--max-acks", type=int, default=12)
    ap.add_argument("--seed-items", type=int, default=20)
    ap.add_argument("--model", default="tiny-clip:0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/results/kill9.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rounds: list[dict[str, Any]] = []
    acked_all: set[str] = set()
    lost: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        root, folder = Path(tmp) / "idx", Path(tmp) / "seed"
        folder.mkdir()
        for i in range(args.seed_items):
            shapes_image(i, (48, 48)).save(folder / f"{i:03d}.png")
        with Index.create(root, model=args.model, ocr=False) as idx:
            add_paths(idx, [folder], workers=0)
        for r in range(args.rounds + 1):
            t0 = time.perf_counter()
            server = start_server(root, token=TOKEN)  # a restart after a kill: recovery runs on open
            gone = acked_all - present(root, acked_all)
            lost |= gone
            if r == args.rounds:
                code = server.stop()
                break
            acks = rng.randint(args.min_acks, args.max_acks)
            delay = rng.uniform(0.0, 0.5)
            acked, failures = upload_until_killed(
                server, token=TOKEN, clients=args.clients, acks=acks, delay_s=delay, seed=args.seed * 1000 + r
            )
            acked_all |= set(acked)
            with Index.open(root, readonly=True) as idx:
                leftover = orphan_media(root, idx.store)
            rounds.append(
                {
                    "round": r,
                    "acknowledged": len(acked),
                    "kill_delay_s": round(delay, 3),
                    "unexpected_answers": failures,
                    "unreferenced_media_after_kill": len(leftover),
                    "temporary_files_after_kill": sum(1 for p in leftover if p.name.endswith(".tmp")),
                    "lost_so_far": len(lost),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
        rest = at_rest(root)
    ok = (
        not lost
        and code == 0
        and rest["image_vectors"] == rest["items"]
        and rest["items_without_file"] == 0
        and rest["unreferenced_media_files"] == 0
        and not any(r["unexpected_answers"] for r in rounds)
    )
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.model,
        "rounds": args.rounds,
        "acknowledged_uploads": len(acked_all),
        "lost_acknowledged_uploads": len(lost),
        "unreferenced_media_found_after_kills": sum(r["unreferenced_media_after_kill"] for r in rounds),
        "at_rest": rest,
        "consistent": ok,
        "per_round": rounds,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"{args.rounds} kills, {len(acked_all)} acknowledged uploads, {len(lost)} lost; "
        f"{result['unreferenced_media_found_after_kills']} unreferenced media files found after the kills, "
        f"{rest['unreferenced_media_files']} left after restarts; {rest['items']} items, "
        f"{rest['items_without_file']} without file; consistent: {ok}; wrote {args.out}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
