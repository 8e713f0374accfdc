# valuegrad: every target makes its own virtual environment in .venv.
# `make test` and `make demo` are all a fresh machine needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test demo bench lint types notebooks docs dot chromium lab clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# One stamp per set of extras: reinstall when pyproject.toml changes.
$(VENV)/.test: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	@touch $@

# graphviz, matplotlib and tqdm: nothing else (the [demo] extra)
$(VENV)/.demo: pyproject.toml | $(PY)
	$(PIP) install -e '.[demo]'
	@touch $@

$(VENV)/.notebooks: pyproject.toml | $(PY)
	$(PIP) install -e '.[notebooks]'
	@touch $@

# torch==2.13.0 first, exactly: the extra's range (torch>=2.1) then installs nothing more.
$(VENV)/.bench: pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[bench]'
	@touch $@

$(VENV)/.lint: pyproject.toml | $(PY)
	$(PIP) install -e '.[lint]'
	@touch $@

dot:
	@bash tools/ensure-dot.sh

# the browser that plays the player in tests/test_browser.py (its page) and tests/test_jupyterlab.py
# (a real JupyterLab), driven by Playwright (pip: the test extra)
chromium:
	@bash tools/ensure-chromium.sh

## test: the whole suite, notebooks, a headless browser and a JupyterLab server included (PyTorch cross-checks run when torch is installed)
test: $(VENV)/.test dot chromium
	$(PY) -m pytest

## demo: draw the (x+y)z circuit and the sigmoid neuron, play its backward pass, train the two-moons classifier
demo: $(VENV)/.demo dot
	@mkdir -p out
	$(PY) -m autograd "(x + y) * z" x=-2 y=5 z=-4 -o out/circuit.svg
	$(PY) -m autograd "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))" w0=2 x0=-1 w1=-3 x1=-2 w2=-3 -o out/sigmoid_neuron.svg --html out/walkthrough.html
	$(PY) examples/two_moons.py --out out
	@echo "demo: pictures in out/ (circuit.svg, sigmoid_neuron.svg, decision_boundary.png) and out/walkthrough.html, the backward pass step by step"

## docs: regenerate the pictures committed under docs/
docs: $(VENV)/.demo dot
	$(PY) tools/make_docs.py docs

## bench: speed and memory against micrograd, measured in the same run
bench: $(VENV)/.bench
	$(PY) bench/run.py

## notebooks: re-execute every notebook in place, outputs stored
notebooks: $(VENV)/.notebooks dot
	$(PY) tools/run_notebooks.py --inplace

## lab: JupyterLab on the notebooks (the [notebooks] extra: JupyterLab and anywidget, for the live player)
lab: $(VENV)/.notebooks dot
	$(VENV)/bin/jupyter lab notebooks/

## lint: ruff, mypy --strict on the packages, and on user code that calls every method (as tests/test_typing.py does)
lint: $(VENV)/.lint
	$(VENV)/bin/ruff check autograd nn tests bench tools examples
	$(PY) tools/type_declarations.py --check
	$(PY) -m mypy --strict autograd nn
	$(PY) -m mypy --strict --follow-imports=silent tests/typed/user_code.py

## types: rewrite the declarations type checkers read from the table of primitives (after adding a row)
types: $(PY)
	$(PY) tools/type_declarations.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
