# The two commands a newcomer needs; both install what they need first.
#   make report   run the safety requirements on the bundled reference model and synthetic ingest
#   make test     run the harness's own tests
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: install browser report test lint bench

# tf-keras pins the full `tensorflow` wheel; installed without deps it runs on tensorflow-cpu.
# The editable install registers the harness's pytest options (pytest_safety_harness.py) from
# this checkout; it is redone whenever the installed plugin belongs to another checkout.
install: .deps-installed
	@$(PYTHON) -I -c "import pytest_safety_harness as p, sys; sys.exit(p.__file__ != sys.argv[1])" "$(CURDIR)/pytest_safety_harness.py" 2>/dev/null \
	  || $(PIP) --no-deps --no-build-isolation -e .

.deps-installed: requirements.txt
	$(PIP) -r requirements.txt
	$(PIP) --no-deps tf-keras==2.21.0
	touch $@

report: install
	$(PYTHON) -m pytest

# tests/test_report_in_browser.py opens the HTML report in headless Chromium; CI starts from a
# fresh Debian machine as root.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: install lint browser
	$(PYTHON) -m pytest tests --html=reports/harness_tests.html

lint: .deps-installed
	$(PYTHON) -m ruff check .

bench: install
	$(PYTHON) bench/run.py
