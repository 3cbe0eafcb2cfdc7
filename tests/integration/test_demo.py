"""``make demo``'s main job, end to end on a small emoji subset: build, index, search, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memesearch.cli.main import main as cli
from memesearch.demo import main as demo


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "emoji"
    out = tmp_path / "out"
    assert cli(["datasets", "build", "emoji", "--out", str(data), "--limit", "60", "--no-progress"]) == 0
    assert demo(["--data", str(data), "--out", str(out), "--workers", "0"]) == 0
    text = capsys.readouterr().out
    assert '"笑哭了"' in text and '"so sleepy"' in text and "why: image match" in text
    assert "emoji test split: index search" in text and "image only" in text
    fused = json.loads((out / "eval" / "fused" / "all" / "metrics.json").read_text())
    image_only = json.loads((out / "eval" / "image-only" / "all" / "metrics.json").read_text())
    # the manifest's captions (emoji names) make the fused ranking far better than the image branch alone
    assert fused["metrics"]["R@1"] > image_only["metrics"]["R@1"] + 0.2, (
        fused["metrics"],
        image_only["metrics"],
    )
    # a second run does no ingest work and the index answers the CLI
    assert demo(["--data", str(data), "--out", str(out), "--workers", "0"]) == 0
    assert "indexed 0, skipped" in capsys.readouterr().out
    assert cli(["search", "so sleepy", "--index", str(out / "index"), "--json", "--k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 3 and all("image" in h["scores"] for h in hits)
