# Every target creates .venv when it is missing, so a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test bench screenshots lint clean

# setuptools 77+ and wheel: the build backend pyproject.toml names (PEP 639 license fields), for
# offline wheel builds without build isolation (tests/core/test_packaging.py).
$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "setuptools>=77" wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/spectral-lab gui

test: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n auto --maxprocesses 4

# MNIST=path/to/mnist.npz picks the data set (default: Keras's cache, ~/.keras/datasets/mnist.npz).
bench: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m benchmarks --out docs/BENCHMARKS.md $(if $(MNIST),--dataset $(MNIST))

# Needs Debian's xvfb and imagemagick (see .ci/run) and ../shared/data/mnist.npz.
screenshots: $(VENV)/.installed
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python docs/screenshots.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
