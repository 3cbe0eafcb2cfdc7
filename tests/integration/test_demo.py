"""``make demo``'s main job, end to end on a small emoji subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memesearch.cli.main import main as cli
from memesearch.demo import main as demo


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "emoji"
    assert cli(["datasets", "build", "emoji", "--out", str(data), "--limit", "60", "--no-progress"]) == 0
    assert demo(["--data", str(data), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "queries: zh" in out and '"笑哭了"' in out
    report = json.loads((tmp_path / "out" / "emoji-test" / "all" / "metrics.json").read_text())
    # oracle captions + a multilingual encoder: far above chance on a tiny gallery
    assert report["metrics"]["R@10"] > 0.5
    assert (tmp_path / "out" / "emoji-test" / "zh" / "run.jsonl").exists()
