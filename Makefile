# The two commands a newcomer needs; both install what they need first.
#   make report   run the safety requirements on the bundled reference model and synthetic ingest
#   make test     run the harness's own tests
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --quiet --disable-pip-version-check
# pip takes seconds to resolve a requirements file even when all is installed; this check reads the installed
# metadata instead (a fraction of a second) and, when anything is missing or unreadable, leaves it to pip
MET = $(PYTHON) tools/requirements_met.py
TF_KERAS = tf-keras==2.21.0

.PHONY: install browser ray formats report test lint bench

# tf-keras pins the full `tensorflow` wheel; installed without deps it runs on tensorflow-cpu.
# The editable install puts the harness (the one package safety_harness, its rooms mapped from this checkout's
# top-level folders) and its pytest plugin on the path; it is redone whenever the installed plugin belongs to
# another checkout (or to an older layout).
install: .deps-installed
	@$(PYTHON) -I -c "import safety_harness.fixtures.options as p, sys; sys.exit(p.__file__ != sys.argv[1])" "$(CURDIR)/fixtures/options.py" 2>/dev/null \
	  || $(PIP) --no-deps --no-build-isolation -e .

.deps-installed: requirements.txt
	$(MET) -r requirements.txt --no-deps $(TF_KERAS) || { $(PIP) -r requirements.txt && $(PIP) --no-deps $(TF_KERAS); }
	touch $@

# The screenshot of the report's top (docs/report-top.png, shown in README) is redrawn when chromium is
# present; the target still exits with the gate's exit code.
report: install
	$(PYTHON) -m pytest; status=$$?; \
	if command -v chromium >/dev/null; then \
	  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
	    --disable-sync --no-first-run --user-data-dir="$$(mktemp -d)" --hide-scrollbars \
	    --virtual-time-budget=3000 --window-size=1280,1600 --screenshot=docs/report-top.png \
	    "file://$(CURDIR)/reports/safety_report.html" 2>/dev/null; \
	fi; \
	exit $$status

# tests/test_report_in_browser.py opens the HTML report in headless Chromium and reads its PDF print
# with pdftotext (poppler-utils); CI starts from a fresh Debian machine as root.
browser:
	@(command -v chromium && command -v pdftotext) >/dev/null \
	  || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver poppler-utils)

# Ray (requirements-ray.txt) is optional for users; the tests run the prediction stage on it.
ray: .ray-installed

.ray-installed: requirements-ray.txt
	$(MET) -r requirements-ray.txt || $(PIP) -r requirements-ray.txt
	touch $@

# The deployed formats' runtimes (requirements-formats.txt) are optional for users; the tests convert the
# shared models to TFLite and ONNX and judge them.
formats: .formats-installed

.formats-installed: requirements-formats.txt
	$(MET) -r requirements-formats.txt || $(PIP) -r requirements-formats.txt
	touch $@

test: install ray formats lint browser
	$(PYTHON) -m pytest tests -n 2 --dist loadgroup --html=reports/harness_tests.html

lint: .deps-installed
	$(PYTHON) -m ruff check .

bench: install ray
	$(PYTHON) bench/run.py
