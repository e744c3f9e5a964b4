# CropWatch: two commands.
#   make run   - set up the environment and start the whole service with a demo cooperative
#   make test  - set up the environment and run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	# torch from the local CPU/CUDA wheel index first, so no other torch build is ever resolved
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cropwatch up

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean-data:
	rm -rf data
