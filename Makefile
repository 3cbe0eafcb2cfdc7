# memesearch — the two set-up commands of the README:
#   make demo   install everything (pinned) into .venv and run the main job
#   make test   install everything (pinned) into .venv and run the whole test suite (ruff, mypy, pytest)
# Everything installs from the package registries only (PyPI; later Debian and npm for the web and emoji parts).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_DIR ?= build/demo
DEMO_DATA ?= data/emoji
PYTEST_ARGS ?=
ARGS ?=

.PHONY: install system demo test lint typecheck pytest lock clean

install: $(STAMP)

# torch first and alone: `torch==2.13.0` resolves to the local CPU wheel; asking for it inside a
# larger resolution could let another package pull a CUDA build. torchvision is never installed.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -r requirements.lock
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@$(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('torchvision') is not None)" \
		|| (echo "torchvision is installed in $(VENV); memesearch must not depend on it" && exit 1)
	@touch $(STAMP)

# Debian packages: chromium (the web UI test drives it headless through Playwright) and a CJK font
# (fonts-wqy-microhei: rendered Chinese text for the OCR tests and the memes benchmark) and DejaVu (fonts-dejavu-core:
# the memes benchmark's Latin text). Installed with apt-get when missing.
APT_PACKAGES := chromium fonts-wqy-microhei fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo)

system:
	@if command -v chromium >/dev/null 2>&1 && [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] \
	  && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]; then :; \
	else echo "installing $(APT_PACKAGES) (apt-get)"; \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    $(APT_PACKAGES) >/dev/null) || echo "warning: could not install $(APT_PACKAGES); the browser and Chinese OCR tests will be skipped"; \
	fi

demo: $(STAMP)
	$(PY) -m memesearch.demo --data $(DEMO_DATA) --out $(DEMO_DIR) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: system lint typecheck pytest

# Re-pin requirements.lock from the current .venv (maintainers only).
lock:
	$(PIP) freeze --exclude-editable | grep -v -E '^(memesearch|torch)==' | sed 's/+cpu//' > requirements.lock
	@echo "torch==2.13.0" >> requirements.lock

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
