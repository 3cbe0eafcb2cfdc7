"""The helpers shared by the ``memesearch datasets build`` commands, and the options they share.

The rebuild command recorded in every dataset card is assembled by :func:`option_args`; the builders'
options shared through the factories read the same on every builder that has them (walked on the real
typer app).
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer.main

from memesearch.cli.dataset_options import (
    counts_arg,
    option_args,
    parse_min_max,
    rebuild_command,
    split_csv,
)
from memesearch.cli.main import app
from memesearch.errors import ConfigError

BUILDERS = ("emoji", "memes", "covers", "collages", "animated")


def _builder(name: str) -> Any:
    root: Any = typer.main.get_command(app)
    return root.commands["datasets"].commands["build"].commands[name]


def _options(name: str) -> dict[str, Any]:
    return {param.opts[0]: param for param in _builder(name).params}


def test_option_args_spells_values_and_leaves_out_unset_ones() -> None:
    args = option_args(
        [
            ("--out", "my data"),
            ("--styles", ("google", "twitter")),
            ("--val-style", None),
            ("--seed", 0),
            ("--textless-fraction", 0.3),
            ("--transparent", True),
            ("--msrvtt", False),
            ("--limit", 0),
        ]
    )
    assert args == [
        "--out",
        "my data",
        "--styles",
        "google,twitter",
        "--seed",
        "0",
        "--textless-fraction",
        "0.3",
        "--transparent",
        "--limit",
        "0",
    ]
    command = rebuild_command("emoji", args)
    assert command.startswith("memesearch datasets build emoji --out 'my data' --styles google,twitter")
    assert shlex.split(command)[4:] == args


def test_counts_arg_round_trips_the_views() -> None:
    assert counts_arg((("train", 5), ("val", 0), ("test-seen", 2))) == "train=5,val=0,test-seen=2"


def test_split_csv_and_parse_min_max() -> None:
    assert split_csv(" en, zh ,,ja", "--languages") == ("en", "zh", "ja")
    with pytest.raises(ConfigError, match="--styles needs at least one value"):
        split_csv(" , ", "--styles")
    assert parse_min_max("2-6", "--objects", "2-6") == (2, 6)
    for bad in ("3", "a-b", "2-", "-1-3"):
        with pytest.raises(ConfigError, match=r"--emoji expects MIN-MAX, e\.g\. 2-3"):
            parse_min_max(bad, "--emoji", "2-3")


@pytest.mark.parametrize("option", ["--npm-cache", "--overwrite", "--progress"])
def test_run_options_read_the_same_on_every_builder(option: str) -> None:
    seen = {
        (p.help, p.default, p.envvar, tuple(p.secondary_opts))
        for p in (_options(b)[option] for b in BUILDERS)
    }
    assert len(seen) == 1


def test_every_builder_has_the_shared_options_in_their_order() -> None:
    for name in BUILDERS:
        options = list(_options(name))
        assert options[0] == "--out" and _options(name)["--out"].required
        assert options[-4:] == ["--npm-cache", "--workers", "--overwrite", "--progress"]
        assert {"--seed", "--size", "--styles", "--languages"} <= set(options)
        assert _options(name)["--styles"].default == "google,twitter"
        assert _options(name)["--languages"].default == "en,zh"
