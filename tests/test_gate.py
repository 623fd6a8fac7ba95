"""The glue between requirements, pytest and the release gate, run in-process with ``pytester``.

Each run judges a small requirements file on the bundled model and ingest and checks what a CI
gate reads: the exit status, the gate in the evidence JSON and the terminal line.
"""

import hashlib
import textwrap
from xml.etree import ElementTree

import pytest

from tests.conftest import PROJECT_ROOT, read_evidence

pytest_plugins = ["pytester"]

# pytester restores sys.modules after each in-process run; imported here first, TensorFlow and
# Keras stay loaded (importing TensorFlow twice in one process fails).
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

STOP_RECALL = """\
  - id: {id}
    title: Stop signs are recognised
    hazard: The vehicle does not stop.
    metric: recall
    class: 14
    threshold: {threshold}
    direction: ">="
"""
ACCURACY = """\
  - id: GATE-ACCURACY
    title: Signs are recognised
    hazard: A sign is ignored.
    metric: accuracy
    threshold: {threshold}
    direction: ">="
"""
GIVEN_OOD_ALARM = """\
  - id: GATE-GIVEN-OOD
    title: Foreign signs raise the alarm
    hazard: A sign of another country is acted upon.
    metric: alarm_rate
    detector: mahalanobis
    target_false_alarm_rate: 0.02
    ood_sets: [given]
    threshold: 0.8
    direction: ">="
"""


def run_gate(pytester, *entries, extra_paths=(), options=()):
    """Run the safety suite in-process on a requirements file of ``entries``; returns (outcome, evidence)."""
    requirements = pytester.path / "requirements.yaml"
    requirements.write_text("version: 1\ndefaults:\n  confidence: 0.95\nrequirements:\n" + "".join(entries))
    evidence = pytester.path / "evidence.json"
    outcome = pytester.runpytest_inprocess(
        str(PROJECT_ROOT / "safety_tests"), *map(str, extra_paths), f"--rootdir={PROJECT_ROOT}",
        "-c", str(PROJECT_ROOT / "pytest.ini"), "-p", "no:cacheprovider", f"--requirements={requirements}",
        f"--html={pytester.path / 'report.html'}", f"--evidence={evidence}",
        f"--cache-dir={PROJECT_ROOT / '.cache'}", *options)
    return outcome, read_evidence(evidence)


def test_a_requirement_met_passes_the_gate(pytester):
    outcome, evidence = run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.99))
    assert outcome.ret == pytest.ExitCode.OK
    assert evidence["gate"] == "pass" and evidence["verdict_counts"]["pass"] == 1
    assert evidence["gate_joint_confidence"]["rate_cases"] == 1 and evidence["gate_joint_confidence"]["value"] >= 0.95
    outcome.stdout.fnmatch_lines(["*safety gate: PASS*"])


def test_the_report_and_the_evidence_identify_each_other(pytester):
    run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.99))
    report, evidence_file = pytester.path / "report.html", pytester.path / "evidence.json"
    evidence = read_evidence(evidence_file)
    assert evidence["report"] == str(report)
    assert hashlib.sha256(evidence_file.read_bytes()).hexdigest() in report.read_text()
    # written after the report (rendered from the bundle once pytest-html wrote its test log), in sha256sum's format
    assert (pytester.path / "report.html.sha256").read_text() == \
        f"{hashlib.sha256(report.read_bytes()).hexdigest()}  report.html\n"


def test_a_failed_requirement_blocks_the_gate(pytester):
    outcome, evidence = run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.99),
                                 ACCURACY.format(threshold=0.9999))
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    assert evidence["gate"] == "fail"
    assert {r["id"]: r["verdict"] for r in evidence["requirements"]} == {"GATE-STOP": "pass", "GATE-ACCURACY": "fail"}
    outcome.stdout.fnmatch_lines(["*GATE-ACCURACY: accuracy = *-> fail*", "*safety gate: FAIL*"])


def test_too_few_samples_block_the_gate_as_insufficient_evidence(pytester):
    # every bundled stop sign is recognised, but 700 of 700 cannot show recall >= 0.996 at 95 %
    outcome, evidence = run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.996))
    (result,) = evidence["requirements"]
    assert result["value"] == 1.0 and result["bound"] < 0.996
    assert result["verdict"] == "insufficient_evidence" and result["samples_needed"] > result["n"]
    assert evidence["gate"] == "fail" and outcome.ret == pytest.ExitCode.TESTS_FAILED


def test_nothing_judged_is_no_verdict_and_never_a_pass(pytester):
    outcome, evidence = run_gate(pytester, GIVEN_OOD_ALARM)
    assert evidence["verdict_counts"]["not_applicable"] == 1
    assert evidence["gate"] == "no_verdict" and outcome.ret == pytest.ExitCode.TESTS_FAILED
    outcome.stdout.fnmatch_lines(["*safety gate: NO_VERDICT*"])


def test_a_safety_test_that_errors_blocks_the_gate(pytester):
    broken = pytester.makepyfile(test_broken=textwrap.dedent("""\
        import pytest

        @pytest.mark.requirement_metric("recall")
        def test_broken_recall(requirement_case, predictions, evidence):
            raise RuntimeError("the harness broke")
    """))
    outcome, evidence = run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.99),
                                 extra_paths=[broken])
    assert evidence["gate"] == "fail" and outcome.ret == pytest.ExitCode.TESTS_FAILED
    (error,) = evidence["errors"]
    assert error["test"].endswith("test_broken_recall[GATE-STOP]") and error["message"] == "RuntimeError: the harness broke"


def test_relative_option_paths_resolve_against_the_invocation_folder(pytester):
    (pytester.path / "mine").mkdir()
    (pytester.path / "mine" / "requirements.yaml").write_text(
        "version: 1\nrequirements:\n" + STOP_RECALL.format(id="GATE-STOP", threshold=0.99))
    outcome = pytester.runpytest_inprocess(
        str(PROJECT_ROOT / "safety_tests"), f"--rootdir={PROJECT_ROOT}", "-c", str(PROJECT_ROOT / "pytest.ini"),
        "-p", "no:cacheprovider", "--requirements=mine/requirements.yaml", "--evidence=out/evidence.json",
        "--html=out/report.html", f"--cache-dir={PROJECT_ROOT / '.cache'}")
    assert outcome.ret == pytest.ExitCode.OK
    evidence = read_evidence(pytester.path / "out" / "evidence.json")
    assert evidence["requirements_file"] == str(pytester.path / "mine" / "requirements.yaml")
    assert evidence["requirements_sha256"] == hashlib.sha256(
        (pytester.path / "mine" / "requirements.yaml").read_bytes()).hexdigest()
    assert (pytester.path / "out" / "report.html").is_file()
    # no --model: the bundled reference model, read with its own card
    assert evidence["model"]["path"].endswith("model_under_test/reference/gtsrb_reference.keras")
    assert evidence["model"]["card_assumed"] is False


def test_junit_xml_carries_one_test_case_per_requirement_case_with_its_figures(pytester):
    junit = pytester.path / "junit.xml"
    _, evidence = run_gate(pytester, STOP_RECALL.format(id="GATE-STOP", threshold=0.99),
                           ACCURACY.format(threshold=0.9999), options=[f"--junitxml={junit}"])
    recorded = {r["id"]: r for r in evidence["requirements"]}
    # one test case per requirement case (the other items are metrics no requirement of the file uses: skipped)
    cases = {case_id: case for case in ElementTree.parse(junit).iter("testcase") for case_id in recorded
             if case.get("name").endswith(f"[{case_id}]")}
    assert cases.keys() == recorded.keys() == {"GATE-STOP", "GATE-ACCURACY"}
    for case_id, case in cases.items():
        r = recorded[case_id]
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert properties == {"verdict": r["verdict"], "value": str(r["value"]), "bound": str(r["bound"]),
                              "threshold": str(r["threshold"]), "direction": ">=", "confidence": "0.95",
                              "n": str(r["n"]), "successes": str(r["successes"]), "margin": str(r["margin"])}
    assert cases["GATE-STOP"].find("failure") is None
    # the failure message is the verdict sentence, as the terminal prints it
    message = cases["GATE-ACCURACY"].find("failure").get("message")
    assert message.startswith("GATE-ACCURACY: accuracy = ") and message.endswith("required >= 0.9999 -> fail")


def test_family_wise_judges_each_rate_case_at_the_level_of_the_joint_claim(pytester):
    # 700 of 700 stop signs show recall >= 0.995 at 95 % (bound 0.9957) but not at 97.5 % (0.9947), the level
    # each of the two rate cases gets when both must hold jointly at 95 %
    entries = (STOP_RECALL.format(id="GATE-STOP", threshold=0.995), ACCURACY.format(threshold=0.99))
    _, alone = run_gate(pytester, *entries)
    outcome, jointly = run_gate(pytester, *entries, options=["--family-wise"])
    assert {r["id"]: (r["verdict"], r["confidence"]) for r in alone["requirements"]} == {
        "GATE-STOP": ("pass", 0.95), "GATE-ACCURACY": ("pass", 0.95)}
    verdicts = {r["id"]: (r["verdict"], r["confidence"]) for r in jointly["requirements"]}
    assert verdicts["GATE-STOP"] == ("insufficient_evidence", pytest.approx(0.975))
    assert verdicts["GATE-ACCURACY"] == ("pass", pytest.approx(0.975))
    assert jointly["gate_joint_confidence"]["family_wise"] is True and outcome.ret == pytest.ExitCode.TESTS_FAILED
