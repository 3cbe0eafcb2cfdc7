"""Benchmark: the lexical branch after a write — following the passage log vs rebuilding BM25.

Before, every write made the lexical branch rebuild its BM25 index from every item's text (re-reading the
item rows, tokenising every passage, ``bm25s`` indexing the whole collection): the first search after a
write stalled for seconds at scale. Now the branch applies only the new and removed passages to a
:class:`~memesearch.models.lexical_live.LiveLexicon`. Measured in one run on the same synthetic collection
(``--n`` passages of 3–12 words drawn from English and Chinese vocabularies, ~5% of them with no text):

* **rebuild** — ``LexicalIndex().build(all passages)`` then one query (what a write used to cost);
* **follow** — ``LiveLexicon.add(--batch new passages)`` + ``remove(--batch // 10)`` then one query;
* **query** — one query alone on the live collection (the steady-state cost), median of ``--queries``.

Reported: seconds of each and the ratio rebuild / follow. Run by hand::

    .venv/bin/python bench/bench_lexical_follow.py --n 200000 --batch 100
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

WORDS_EN = [
    "so",
    "tired",
    "happy",
    "friday",
    "cat",
    "dog",
    "meme",
    "sleepy",
    "angry",
    "laugh",
    "cry",
    "party",
    "birthday",
    "work",
    "monday",
    "coffee",
    "love",
    "hate",
    "wow",
    "omg",
    "lol",
    "why",
    "what",
    "really",
    "boss",
    "weekend",
]
WORDS_ZH = [
    "今天",
    "加班",
    "好累",
    "开心",
    "哈哈",
    "生气",
    "睡觉",
    "周末",
    "老板",
    "咖啡",
    "生日",
    "快乐",
    "无语",
    "崩溃",
    "可爱",
    "猫",
    "狗",
]
QUERIES = ["so tired", "happy birthday", "今天 加班", "开心 周末", "angry boss monday", "猫 可爱"]


def passages(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(None)
            continue
        words = WORDS_ZH if rng.random() < 0.4 else WORDS_EN
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))))
    return out


def main() -> None:
    from memesearch.models.lexical import LexicalIndex
    from memesearch.models.lexical_live import LiveLexicon

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()

    texts = passages(args.n + args.batch, seed=0)
    base, new = texts[: args.n], texts[args.n :]

    live = LiveLexicon()
    t = time.perf_counter()
    live.add(list(range(args.n)), base)
    initial = time.perf_counter() - t

    t = time.perf_counter()
    rebuilt = LexicalIndex().build([str(i) for i in range(args.n + args.batch)], texts, show_progress=False)
    rebuilt.score_one(QUERIES[0])
    rebuild = time.perf_counter() - t

    t = time.perf_counter()
    live.add(list(range(args.n, args.n + args.batch)), new)
    live.remove(range(0, args.batch // 10))
    live.score_docs(QUERIES[0])
    follow = time.perf_counter() - t

    times = []
    for i in range(args.queries):
        t = time.perf_counter()
        live.score_docs(QUERIES[i % len(QUERIES)])
        times.append(time.perf_counter() - t)
    query = statistics.median(times)
    result = {
        "n": args.n,
        "batch": args.batch,
        "initial_build_live_s": round(initial, 3),
        "rebuild_and_query_s": round(rebuild, 3),
        "follow_write_and_query_s": round(follow, 4),
        "query_p50_s": round(query, 4),
        "rebuild_over_follow": round(rebuild / follow, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
