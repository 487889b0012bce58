# The two commands of the README:
#   make demo   set everything up, generate SynthMemes, then train and evaluate the meme classifier
#   make test   set everything up, then run every unit test and every notebook (nbval)
# Setup creates .venv (if needed) and installs mmlab into it, editable, with its test tools.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmlab-installed
DEMO_DATA := datasets/synthmemes/memes-n4000-seed0-64px

.PHONY: setup demo test lab bench clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/mmlab data --out $(DEMO_DATA)
	$(BIN)/mmlab check $(DEMO_DATA)
	$(BIN)/mmlab grid $(DEMO_DATA) --out datasets/demo-grid.png
	$(BIN)/mmlab train --out runs/demo

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup  # speed and memory: writes benchmarks/results/ (see benchmarks/README.md)
	$(BIN)/python -m benchmarks.run

clean-data:
	rm -rf datasets/synthmemes datasets/encoders datasets/demo-grid.png
