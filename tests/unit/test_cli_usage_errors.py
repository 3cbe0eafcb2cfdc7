"""The command line answers a mistake with a usage line naming the option and exit code 2, never a traceback.

Every subcommand of the real typer app (walked, not listed by hand, so a new command is covered too) gets a
mistyped option, a missing required argument (when it has one) and a bad value for a numeric option (when
it has one), through :func:`memesearch.cli.main.main` — the function the ``memesearch`` console script
runs. One subprocess run checks the installed entry point end to end (``python -m memesearch``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from memesearch.cli.main import EXIT_CODES_HELP, app, main

SRC = Path(__file__).resolve().parents[2] / "src"


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in sorted(subcommands.items()):
            # a hidden command is its group's default (`memesearch index PATH...` runs `index add`): it is
            # typed as the group
            yield from _leaves(sub, path if getattr(sub, "hidden", False) else (*path, name))
    else:
        yield path, command


COMMANDS = dict(_leaves(typer.main.get_command(app)))
NUMERIC = {"<class 'int'>", "<class 'float'>", "int | None", "float | None"}


def _numeric_option(command: Any) -> str | None:
    for param in command.params:
        if param.param_type_name == "option" and str(param.type_descriptor.annotation) in NUMERIC:
            return str(param.opts[0])
    return None


def _required(command: Any) -> list[Any]:
    return [p for p in command.params if p.required]


@pytest.fixture(autouse=True)
def _no_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # --index etc. fall back to MEMESEARCH_* variables: a set one would fill a "missing" argument
    for name in list(os.environ):
        if name.startswith("MEMESEARCH_"):
            monkeypatch.delenv(name)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err.strip().splitlines()


def _assert_usage_error(lines: list[str], command: tuple[str, ...], needle: str) -> None:
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: ") and needle in lines[0], lines
    assert lines[1].startswith(f"Usage: memesearch {' '.join(command)} "), lines
    assert f"'memesearch {' '.join(command)} --help'" in lines[1]


def test_every_command_is_walked() -> None:
    # the walk reaches the nested groups (datasets build ..., models convert ..., tokens ...)
    names = {" ".join(path) for path in COMMANDS}
    assert {
        "index",
        "search",
        "serve",
        "tokens create",
        "datasets build emoji",
        "models convert cn-clip",
    } <= names
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_mistyped_option(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run([*command, "--colour", "x"], capsys)
    assert code == 2
    _assert_usage_error(lines, command, "No such option: --colour")


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if _required(COMMANDS[c])), ids=" ".join)
def test_missing_required_argument(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(list(command), capsys)
    assert code == 2
    first = _required(COMMANDS[command])[0]
    # an option is named by its flag ('--index'), an argument by its metavar or name ('NAME|ID', 'paths')
    needle = first.opts[0] if first.param_type_name == "option" else (first.metavar or first.name)
    _assert_usage_error(lines, command, needle)
    assert "Missing" in lines[0]


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if _numeric_option(COMMANDS[c])), ids=" ".join)
def test_bad_value(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    option = _numeric_option(COMMANDS[command])
    assert option is not None
    code, lines = _run([*command, option, "lots"], capsys)
    assert code == 2
    _assert_usage_error(lines, command, f"Invalid value for '{option}'")


def test_a_value_out_of_range_and_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(["serve", "--index", "x", "--port", "99999"], capsys)
    assert code == 2
    _assert_usage_error(lines, ("serve",), "'--port'")
    assert "65535" in lines[0]
    code, lines = _run(["frobnicate"], capsys)
    assert code == 2 and "No such command 'frobnicate'" in lines[0]
    code, lines = _run(["tokens"], capsys)  # a group without its command
    assert code == 2 and lines[0] == "error: Missing command."


def test_no_arguments_prints_the_help_with_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    shown = " ".join((captured.out + captured.err).replace("│", " ").split())
    assert "Usage: memesearch" in shown and "Traceback" not in shown
    assert " ".join(EXIT_CODES_HELP.split()) in shown


@pytest.mark.parametrize("command", [(), ("index",), ("tokens", "create")], ids=lambda c: " ".join(c) or "-")
def test_help_ends_with_the_exit_codes(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "Exit codes: 0 ok; 1 some inputs failed" in out and "2 usage or input error" in out


def test_the_console_entry_point(tmp_path: Path) -> None:
    """The exact case of issue 16: a 30-line traceback and exit 1 before; one error and usage line now."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMESEARCH_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "memesearch", "index", str(tmp_path), "--index", str(tmp_path / "i")]
    done = subprocess.run([*argv, "--colour", "x"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and done.stdout == ""
    _assert_usage_error(lines, ("index",), "No such option: --colour")
    assert not (tmp_path / "i").exists()  # nothing ran
