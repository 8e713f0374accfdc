# valuegrad: every target makes its own virtual environment in .venv.
# `make test` and `make demo` are all a fresh machine needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test demo bench lint notebooks docs dot lab clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# One stamp per set of extras: reinstall when pyproject.toml changes.
$(VENV)/.test: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	@touch $@

$(VENV)/.notebooks: pyproject.toml | $(PY)
	$(PIP) install -e '.[notebooks]'
	@touch $@

$(VENV)/.bench: pyproject.toml | $(PY)
	$(PIP) install -e '.[bench]'
	@touch $@

$(VENV)/.lint: pyproject.toml | $(PY)
	$(PIP) install -e '.[lint]'
	@touch $@

dot:
	@bash tools/ensure-dot.sh

## test: the whole suite, notebooks included (PyTorch cross-checks run when torch is installed)
test: $(VENV)/.test dot
	$(PY) -m pytest

## demo: render the README's graphs and train the two-moons classifier
demo: $(VENV)/.test dot
	$(PY) -m autograd "(x + y) * z" x=-2 y=5 z=-4 -o out/circuit.svg
	$(PY) -m nn.demo --out out

## docs: regenerate the pictures committed under docs/
docs: $(VENV)/.test dot
	$(PY) tools/make_docs.py docs

## bench: speed and memory against micrograd, measured in the same run
bench: $(VENV)/.bench
	$(PY) bench/run.py

## notebooks: re-execute every notebook in place, outputs stored
notebooks: $(VENV)/.test dot
	$(PY) tools/run_notebooks.py --inplace

## lab: JupyterLab on the notebooks
lab: $(VENV)/.notebooks dot
	$(VENV)/bin/jupyter lab notebooks/

lint: $(VENV)/.lint
	$(VENV)/bin/ruff check autograd nn tests bench tools

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
