# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

$(BIN)/florenz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: its CPU build is on local disk; unpinned, pip reaches for CUDA wheels
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/florenz

# the quick study into runs/demo: world, starting points, grid, losses, fits, report (< 20 minutes on 2 cores)
demo: install
	$(BIN)/florenz demo

# Everything, slow checks included (about 15 minutes on 2 quiet cores); `make quicktest` skips the slow ones.
test: install browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q -m "slow or not slow"

# The report's browser test drives Debian's chromium through playwright (no `playwright install`); the CJK font
# makes Chinese render in the report (about 3 minutes the first time, needs root)
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-noto-cjk)

quicktest: install
	$(BIN)/pytest -q

.PHONY: install demo test quicktest browser
