# scalinglab: every target installs what it needs into .venv (by pip) first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/scalinglab demo

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/bench_fit.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
