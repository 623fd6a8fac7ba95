"""The evidence JSON's contract: the committed JSON Schema is the one generated from the typed model,
real evidence satisfies it, and documents a gate could misread are refused."""

import copy

import jsonschema
import pydantic
import pytest

from safety_harness.evidence.document import SCHEMA_VERSION, EvidenceDocument, json_schema, load_schema
from tests.evidence_samples import sample_evidence


def test_the_committed_schema_is_the_one_generated_from_the_model():
    assert load_schema() == json_schema(), "regenerate it: python tools/write_evidence_schema.py"


def test_the_schema_and_every_document_carry_the_schema_version():
    schema = load_schema()
    assert schema["version"] == SCHEMA_VERSION
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


def test_a_document_round_trips_through_the_model_unchanged():
    evidence = sample_evidence()
    jsonschema.validate(evidence, load_schema())
    document = EvidenceDocument.model_validate(evidence)
    assert pydantic.TypeAdapter(dict).validate_json(document.to_json()) == evidence


def _without(evidence: dict, key: str) -> dict:
    evidence = copy.deepcopy(evidence)
    del evidence[key]
    return evidence


def _with_requirement(evidence: dict, key: str, value) -> dict:
    evidence = copy.deepcopy(evidence)
    evidence["requirements"][0][key] = value
    return evidence


@pytest.mark.parametrize("broken", [
    pytest.param(_with_requirement(sample_evidence(), "verdict", "passed"), id="unknown-verdict"),
    pytest.param(_with_requirement(sample_evidence(), "successes", -1), id="negative-count"),
    pytest.param(_with_requirement(sample_evidence(), "condition", "<b>rain</b>:1"), id="malformed-condition"),
    pytest.param(_without(sample_evidence(), "gate"), id="missing-gate"),
    pytest.param({**sample_evidence(), "gate": "maybe"}, id="unknown-gate"),
    pytest.param({**sample_evidence(), "verdict_counts": {"pass": 1}}, id="counts-incomplete"),
    pytest.param({**sample_evidence(), "surprise": 1}, id="undeclared-key"),
])
def test_a_document_a_gate_could_misread_is_refused_by_schema_and_model(broken):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())
    with pytest.raises(pydantic.ValidationError):
        EvidenceDocument.model_validate(broken)


def test_real_evidence_validates_and_the_report_shows_the_rationale(run_safety_suite):
    # run_safety_suite validates every evidence file it reads against the committed schema
    run = run_safety_suite("-k", "SR-STOP-RECALL", name="schema")
    (stop,) = run.evidence["requirements"]
    jsonschema.validate(run.evidence, load_schema())
    assert run.evidence["schema_version"] == SCHEMA_VERSION
    assert stop["rationale"].startswith("A missed stop sign is the most severe outcome")
    assert "A missed stop sign is the most severe outcome" in run.html
