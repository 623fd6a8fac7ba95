"""The evidence of a run: the JSON for CI and auditors, the HTML report (pytest-html), the terminal gate line."""

from html import escape
from pathlib import Path

import pytest

from fixtures.evidence import VERDICT_PROPERTY
from fixtures.plugin import RUN_KEY
from harness.environment import describe_environment
import numpy as np

from harness.gtsrb import STOP_SIGN
from perturbations import SEVERITIES, get_perturbation
from perturbations.contact_sheet import contact_sheet
from report import sections
from report.thumbnails import png_data_uri
from safety_case.evidence import write_json

_EVIDENCE_KEY = pytest.StashKey[dict]()
_SHEETS_KEY = pytest.StashKey[dict]()
SHEET_SIGNS = 6
_ERRORS_KEY = pytest.StashKey[list]()


def evidence_path(config) -> Path:
    """``--evidence``, else beside the HTML report, else ``reports/safety_evidence.json``."""
    invocation = config.invocation_params.dir
    explicit = config.getoption("evidence")
    if explicit is not None:
        return invocation / explicit
    html = config.getoption("htmlpath", None)
    if html:
        html = invocation / Path(html)
        return html.with_name(html.stem + ".evidence.json")
    return invocation / "reports" / "safety_evidence.json"


def pytest_configure(config):
    config.stash[_ERRORS_KEY] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("safety") and not any(
        name == VERDICT_PROPERTY for name, _ in item.user_properties
    ):
        # a safety test that ended without a verdict (an error in the harness) must not vanish from the gate
        last_line = report.longreprtext.strip().splitlines()[-1:] or [""]
        item.config.stash[_ERRORS_KEY].append({"test": item.nodeid, "phase": report.when, "message": last_line[0]})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    evidence = run.evidence.to_dict(
        model=run.model_identity(),
        ingest=run.ingest_identity(),
        requirements_file=str(run.options.requirements_path),
        class_names=list(run.class_names),
        perturbations=_perturbation_definitions(run),
        environment=describe_environment(run.options.seed),
        predictions_from=dict(run.cache.outcomes),
        errors=config.stash[_ERRORS_KEY],
    )
    if evidence["errors"]:
        evidence["gate"] = "fail"
    config.stash[_EVIDENCE_KEY] = evidence
    config.stash[_SHEETS_KEY] = _contact_sheets(run, evidence["perturbations"])
    write_json(evidence_path(config), evidence)
    if evidence["gate"] != "pass" and session.exitstatus == pytest.ExitCode.OK:
        # all requirements skipped as not applicable: a CI gate must not read that as a pass
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _perturbations_used(run) -> list:
    names = {case.condition.split(":")[0] for case in run.cases if ":" in case.condition}
    names |= {"sticker"} if any(case.requirement.metric == "counterexample" for case in run.cases) else set()
    return [get_perturbation(name) for name in sorted(names)]


def _perturbation_definitions(run) -> dict:
    return {p.name: {"description": p.description,
                     "severities": {s: p.severity_parameters(s) for s in SEVERITIES}}
            for p in _perturbations_used(run)}


def _contact_sheets(run, definitions) -> dict:
    """A few signs of the ingest (stop signs first) under each perturbation used, at every severity."""
    if not definitions:
        return {}
    clean = run.clean
    stop_first = np.argsort(clean.labels != STOP_SIGN, kind="stable")
    positions = np.concatenate([stop_first[:SHEET_SIGNS // 2], np.arange(clean.indices.size)[::max(
        1, clean.indices.size // SHEET_SIGNS)][:SHEET_SIGNS - SHEET_SIGNS // 2]])
    images, rois = run.images(clean, positions)
    return {name: png_data_uri(contact_sheet(get_perturbation(name), images, rois, run.options.seed), scale=1)
            for name in definitions}


def pytest_terminal_summary(terminalreporter, config):
    evidence = config.stash.get(_EVIDENCE_KEY, None)
    if evidence is None:
        return
    counts = ", ".join(f"{verdict} {count}" for verdict, count in evidence["verdict_counts"].items())
    terminalreporter.write_sep("=", f"safety gate: {evidence['gate'].upper()} ({counts})",
                               green=evidence["gate"] == "pass", red=evidence["gate"] != "pass", bold=True)
    terminalreporter.write_line(f"evidence JSON: {evidence_path(config)}")


def pytest_html_report_title(report):
    report.title = "Safety evidence report"


def pytest_html_results_summary(prefix, summary, postfix, session):
    evidence = session.config.stash.get(_EVIDENCE_KEY, None)
    if evidence is not None:
        prefix.extend(sections.render(evidence, session.config.stash[_SHEETS_KEY]))


def pytest_html_results_table_header(cells):
    cells.insert(2, '<th class="sortable" data-column-type="verdict">Verdict</th>')


def pytest_html_results_table_row(report, cells):
    verdict = dict(report.user_properties).get(VERDICT_PROPERTY, "")
    cells.insert(2, f'<td class="col-verdict verdict-{escape(verdict)}">{escape(verdict)}</td>')
