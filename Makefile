# The README's commands: `make run`, `make test`, and `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODULES := crm_core crm_marketing crm_service crm_survey crm_loyalty

# make run
DB ?= crm
PORT ?= 8000
# make test: auto (PostgreSQL when reachable, else SQLite), postgresql or sqlite
BACKEND ?= auto

export CRM_MODULES := $(MODULES)

.PHONY: run test bench install web clean translations translations-check \
	screenshots

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@echo "==> Installing Python packages into $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -r requirements.txt
	@# setuptools warns about every editable install: keep it out of sight
	@$(PY) -m pip install --quiet --no-deps -e . 2> $(VENV)/editable.log \
		|| { cat $(VENV)/editable.log; exit 1; }
	@touch $@

web: web/sao/.installed

web/sao/.installed: web/package.json tools/install-sao.sh
	@tools/install-sao.sh

run: install web
	@DB=$(DB) PORT=$(PORT) tools/run.sh

test: install web
	@TRYTOND_CONFIG=$(CURDIR)/trytond.conf BACKEND=$(BACKEND) \
		$(PY) tools/run_tests.py

# The screenshots of the README (doc/screenshots, 1440x900), taken in
# Chromium by a browser test on the demo data
screenshots: install web
	@CRM_SCREENSHOTS=$(CURDIR)/doc/screenshots CRM_REQUIRE_BROWSER=1 \
		CRM_TEST_SHARDS=tests CRM_TEST_PATTERN=test_browser_screenshots \
		TRYTOND_CONFIG=$(CURDIR)/trytond.conf BACKEND=sqlite \
		$(PY) tools/run_tests.py

# Extract every translatable string into addons/*/locale/<lang>.po, keeping
# the translations (tools/i18n.py); then list what is left to translate
translations: install
	@$(PY) tools/i18n.py sync

translations-check: install
	@$(PY) tools/i18n.py check

bench: install
	@$(PY) bench/run.py

clean:
	rm -rf $(VENV) web/sao .cache var
