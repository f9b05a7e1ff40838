# scalinglab: every target installs what it needs into .venv (by pip) first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install browser demo lint test bench clean

install: $(STAMP)

# torch is installed first, so that the `lab` extra finds it satisfied. TORCH (default torch==2.13.0, the
# CPU build this kind of machine carries on disk) and TORCH_PIP_ARGS (default none) choose another build
# elsewhere, e.g. pip's index options for the CPU wheels: the README's "Install" says how.
TORCH          ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS         ?= test,lab,ray,trackers,notebook

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/scalinglab demo

# ruff (pyflakes, import order, pyupgrade; rules in pyproject.toml) before the suite
lint: install
	$(VENV)/bin/ruff check src tests benchmarks docs/make_figures.py

test: install browser lint
	$(PY) -m pytest

# Debian's headless Chromium for the report's browser test (tests/report/test_report_browser.py). Best
# effort: where it cannot be installed (apt-get needs root) the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium not installed: the report's browser test will be skipped"

bench: install
	$(PY) benchmarks/bench_fit.py
	$(PY) benchmarks/bench_trainer.py
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_corpus.py
	$(PY) benchmarks/bench_runs_per_gpu.py
	$(PY) benchmarks/bench_gpu.py  # prints why and exits 0 without CUDA
	$(PY) benchmarks/bench_schedule.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
