# The two commands a newcomer needs; both install what they need first.
#   make report   run the safety requirements on the bundled reference model and synthetic ingest
#   make test     run the harness's own tests
PYTHON ?= python3

.PHONY: install report test bench

install: .deps-installed

# tf-keras pins the full `tensorflow` wheel; installed without deps it runs on tensorflow-cpu.
.deps-installed: requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps tf-keras==2.21.0
	touch $@

report: install
	$(PYTHON) -m pytest

test: install
	$(PYTHON) -m pytest tests --html=reports/harness_tests.html

bench: install
	$(PYTHON) bench/run.py
