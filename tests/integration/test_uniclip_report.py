"""scripts/report_uniclip_ablation.py on two tiny uniclip runs (both heads vs ITC only) on a small covers
build: CBVS-protocol rows for all / en / zh, the presence accuracy only where the run has the head, the
delta and the Markdown table."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from memesearch.cli.main import main as cli_main
from memesearch.data.covers.config import FONTS
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["emoji-datasource-google", "emoji-datasource-twitter", "emojibase-data"]


@pytest.fixture(scope="module")
def covers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}")
    for specs in FONTS.values():
        for spec, _ in specs:
            if not spec.path().is_file():
                pytest.skip(f"font {spec.path()} missing: install the Debian package {spec.package}")
    ensure_packages(PACKAGES, cache, progress=False)
    out = tmp_path_factory.mktemp("covers") / "covers"
    argv = [
        "datasets",
        "build",
        "covers",
        "--out",
        str(out),
        "--topics",
        "24",
        "--size",
        "96",
        "--no-progress",
    ]
    assert cli_main([*argv, "--npm-cache", str(cache)]) == 0
    return out


def _train(covers: Path, runs: Path, name: str, heads: bool) -> Path:
    preset = "uniclip-small" if heads else "uniclip-small-itc"
    sets = {
        "task_config.model_name": "random-clip:chinese-clip-tiny@2",
        "task_config.dataset": str(covers),
        "batch_size": "8",
        "max_steps": "2",
        "epochs": "1",
        "output_dir": str(runs),
        "run_name": name,
    }
    argv = ["train", "--preset", preset, "-q"]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    assert cli_main(argv) == 0
    return runs / name


def test_report_compares_two_runs_on_the_cbvs_protocol(covers: Path, tmp_path: Path) -> None:
    a = _train(covers, tmp_path / "runs", "both", heads=True)
    b = _train(covers, tmp_path / "runs", "itc", heads=False)
    spec = importlib.util.spec_from_file_location(
        "report_uniclip", ROOT / "scripts" / "report_uniclip_ablation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_uniclip"] = module
    spec.loader.exec_module(module)
    out = tmp_path / "results" / "uniclip.json"
    assert module.main([str(a), str(b), "--dataset", str(covers), "--split", "test", "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    first, second = report["runs"]
    assert first["heads"] == {"presence": True, "semantic": True}
    assert second["heads"] == {"presence": False, "semantic": False}
    assert 0 <= first["presence_acc"] <= 1 and second["presence_acc"] is None
    for run in report["runs"]:
        assert set(run["metrics"]) == {"all", "en", "zh"}
        assert all(0 <= run["metrics"]["all"][k] <= 1 for k in ("R@10", "NDCG@10", "MAP"))
    assert report["delta"]["R@10"] == pytest.approx(
        first["metrics"]["all"]["R@10"] - second["metrics"]["all"]["R@10"]
    )
    assert "| ITC only |" in out.with_suffix(".md").read_text(encoding="utf-8")
