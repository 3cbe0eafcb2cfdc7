"""Locate, or install with npm, the packages the emoji benchmark is built from.

The benchmark reads three kinds of npm packages, all installed side by side in one cache folder
(``<cache>/node_modules/<name>``):

* ``emoji-datasource-<style>`` (style = apple, google, twitter, facebook): ``emoji.json`` (one entry per
  emoji: ``unified`` code points, ``image`` file name, category, subcategory, ``has_img_<style>``) and the
  per-emoji 64-px PNGs under ``img/<style>/64/``. ``emoji.json`` is byte-identical in all four packages.
* ``fluentui-emoji`` (styles fluent-flat, fluent-color, fluent-high-contrast): Microsoft's Fluent emoji
  as SVGs under ``icons/<flat|modern|high-contrast>/<cldr-name>[-<skin tone>].svg`` (no metadata file:
  files are matched to emoji by name, :mod:`memesearch.data.emoji.svgstyles`).
* ``openmoji`` (styles openmoji-color, openmoji-black): SVGs under ``<color|black>/svg/<HEXCODE>.svg``
  with ``data/openmoji.json`` (one entry per file: hexcode, skin tone, group).
* ``emojibase-data``: ``<locale>/data.json`` with the CLDR-derived ``label`` (short name) and ``tags``
  (keywords) of every emoji, for ``en`` and ``zh``.

The cache folder is, in order of precedence: the ``cache`` argument (CLI ``--npm-cache``), the
environment variable ``MEMESEARCH_NPM_CACHE``, ``$XDG_CACHE_HOME/memesearch/npm`` (default
``~/.cache/memesearch/npm``). Missing packages are installed there with ``npm install --prefix`` at the
pinned versions of :data:`PINNED_VERSIONS`.

Example::

    >>> paths = ensure_packages(["emoji-datasource-google", "emojibase-data"])  # doctest: +SKIP
    >>> paths["emojibase-data"] / "zh" / "data.json"  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from memesearch.errors import ConfigError, MemesearchError

log = logging.getLogger(__name__)

#: Image styles published by the emoji-datasource packages (64-px PNGs; any may be the held-out style).
STYLES: tuple[str, ...] = ("apple", "google", "twitter", "facebook")

#: SVG styles: style -> (npm package, folder of its SVGs in the package). Train-side styles only: they
#: draw the same concepts in more designs for training and are never a held-out (test) style.
SVG_STYLES: dict[str, tuple[str, str]] = {
    "fluent-flat": ("fluentui-emoji", "icons/flat"),
    # the package calls Fluent's gradient "Color" style "modern"
    "fluent-color": ("fluentui-emoji", "icons/modern"),
    "fluent-high-contrast": ("fluentui-emoji", "icons/high-contrast"),
    "openmoji-color": ("openmoji", "color/svg"),
    "openmoji-black": ("openmoji", "black/svg"),
}

#: Every style ``datasets build emoji --styles`` accepts.
ALL_STYLES: tuple[str, ...] = (*STYLES, *SVG_STYLES)

#: Versions installed when a package is missing. The build records the versions it actually read.
PINNED_VERSIONS: dict[str, str] = {
    "emoji-datasource-apple": "16.0.0",
    "emoji-datasource-google": "16.0.0",
    "emoji-datasource-twitter": "16.0.0",
    "emoji-datasource-facebook": "16.0.0",
    "emojibase-data": "17.0.0",
    "fluentui-emoji": "1.3.0",
    "openmoji": "17.0.0",
}

TEXT_PACKAGE = "emojibase-data"
NPM_CACHE_ENV = "MEMESEARCH_NPM_CACHE"


class NpmUnavailableError(MemesearchError):
    """npm is missing, or could not install the packages (registry unreachable, disk full, ...)."""


def style_package(style: str) -> str:
    """The npm package holding the images of ``style`` (e.g. ``"google"`` -> ``emoji-datasource-google``,
    ``"openmoji-black"`` -> ``openmoji``)."""
    if style in SVG_STYLES:
        return SVG_STYLES[style][0]
    if style not in STYLES:
        raise ConfigError(f"unknown emoji style {style!r}; known styles: {', '.join(ALL_STYLES)}")
    return f"emoji-datasource-{style}"


def default_npm_cache() -> Path:
    """The npm cache folder used when none is given: ``$MEMESEARCH_NPM_CACHE`` or the user cache dir."""
    env = os.environ.get(NPM_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memesearch" / "npm"


def package_dir(name: str, cache: Path) -> Path:
    """Where ``name`` lives once installed into ``cache``."""
    return cache / "node_modules" / name


def installed_version(name: str, cache: Path) -> str | None:
    """The version of ``name`` installed in ``cache``, or ``None`` when it is not (completely) installed."""
    root = package_dir(name, cache)
    manifest = root / "package.json"
    if not manifest.is_file():
        return None
    if not _looks_complete(name, root):
        return None
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return str(version) if version else None


def _looks_complete(name: str, root: Path) -> bool:
    # An interrupted install can leave package.json without the data; check the files we read.
    if name == TEXT_PACKAGE:
        return (root / "en" / "data.json").is_file() and (root / "zh" / "data.json").is_file()
    if name.startswith("emoji-datasource-"):
        style = name.removeprefix("emoji-datasource-")
        return (root / "emoji.json").is_file() and (root / "img" / style / "64").is_dir()
    folders = [folder for package, folder in SVG_STYLES.values() if package == name]
    if name == "openmoji" and not (root / "data" / "openmoji.json").is_file():
        return False
    return all((root / folder).is_dir() for folder in folders)


def ensure_packages(
    names: Iterable[str], cache: str | Path | None = None, *, progress: bool | None = None
) -> dict[str, Path]:
    """Return ``{name: package folder}``, installing the missing packages into ``cache`` with npm first.

    Installed packages are used whatever their version (the build records it); missing ones are
    installed at :data:`PINNED_VERSIONS`. ``progress`` shows npm's own progress output (default: when
    stderr is a terminal); otherwise a line is logged before and after the install.

    Raises :class:`NpmUnavailableError` with one sentence saying what to install when npm is missing or
    the install fails.
    """
    cache_dir = Path(cache).expanduser() if cache is not None else default_npm_cache()
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in PINNED_VERSIONS:
            raise ConfigError(
                f"no pinned version for npm package {name!r}; known: {', '.join(PINNED_VERSIONS)}"
            )
    missing = [n for n in wanted if installed_version(n, cache_dir) is None]
    if missing:
        _npm_install(missing, cache_dir, progress=sys.stderr.isatty() if progress is None else progress)
        still = [n for n in missing if installed_version(n, cache_dir) is None]
        if still:
            raise NpmUnavailableError(
                f"npm reported success but {', '.join(still)} is still incomplete in {cache_dir}; "
                f"delete {cache_dir / 'node_modules'} and run the command again"
            )
    out = {n: package_dir(n, cache_dir) for n in wanted}
    for n in wanted:
        log.info("using npm package %s@%s from %s", n, installed_version(n, cache_dir), out[n])
    return out


def _install_hint(specs: list[str], cache: Path) -> str:
    return f"npm install --prefix {cache} {' '.join(specs)}"


def _npm_install(names: list[str], cache: Path, *, progress: bool) -> None:
    specs = [f"{n}@{PINNED_VERSIONS[n]}" for n in names]
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailableError(
            "npm was not found on PATH: install Node.js with npm (e.g. `apt-get install npm`) or install the "
            f"packages yourself with `{_install_hint(specs, cache)}` and pass --npm-cache {cache}"
        )
    cache.mkdir(parents=True, exist_ok=True)
    # --save-exact keeps the cache's package.json pinned; audit/fund only add network round trips and noise.
    cmd = [npm, "install", "--prefix", str(cache), "--save-exact", "--no-audit", "--no-fund", *specs]
    log.info("running: %s", " ".join(cmd))
    _say(f"installing {len(specs)} npm package(s) into {cache}: {' '.join(specs)} ...")
    start = time.monotonic()
    tail = ""
    if progress:
        # npm draws its own progress bar on a terminal; let it through.
        returncode = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False).returncode
    else:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        returncode = proc.returncode
        tail = _npm_error_summary(proc.stderr + "\n" + proc.stdout)
    if returncode != 0:
        reason = f" ({tail})" if tail else ""
        raise NpmUnavailableError(
            f"`npm install` failed with exit code {returncode}{reason}: the npm registry may be unreachable; "
            f"run `{_install_hint(specs, cache)}` where it is reachable and pass --npm-cache {cache}"
        )
    _say(f"installed {len(specs)} npm package(s) in {time.monotonic() - start:.1f} s")


def _npm_error_summary(output: str) -> str:
    """``"<code>: <first message line>"`` from npm's error output (its stack and log lines left out)."""
    code, message = "", ""
    skip = ("code ", "syscall ", "errno ", "at ", "A complete log", "Log files", "{", "}")
    for line in output.splitlines():
        if not line.startswith("npm error"):
            continue
        body = line.removeprefix("npm error").strip()
        if body.startswith("code ") and not code:
            code = body.removeprefix("code ").strip()
        elif body and not message and not body.startswith(skip) and not line.startswith("npm error  "):
            message = body
    summary = ": ".join(part for part in (code, message) if part)
    return summary[:240]


def _say(message: str) -> None:
    # The install takes 10-60 s: always say what is happening (one line), whatever the terminal.
    log.info("%s", message)
    print(message, file=sys.stderr, flush=True)
