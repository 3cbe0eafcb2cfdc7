"""Check that two emoji benchmark builds hold the same held-out views (test, test-seen).

Items, their records, queries with judgements and decoded pixels (composited on white, as every model
reads them) must be equal, so that numbers on either build are comparable.

    python scripts/check_emoji_views.py data/emoji data/emoji-v2 [--out docs/results/emoji_v2_views.json]

Exit status 1 when a view differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from memesearch.eval.emoji_views import compare_views


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path, help="the reference build (e.g. data/emoji)")
    parser.add_argument("b", type=Path, help="the other build (e.g. data/emoji-v2)")
    parser.add_argument("--out", type=Path, default=None, help="also write the comparison as JSON here")
    args = parser.parse_args(argv)
    result = {"a": str(args.a), "b": str(args.b)} | compare_views(args.a, args.b)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if result["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
