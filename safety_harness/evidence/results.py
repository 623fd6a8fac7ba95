"""Evidence: what each requirement was judged on, gathered for the report and the JSON.

The JSON is the machine-readable record a CI gate and an auditor read; the HTML
report renders the same records. Nothing in either is computed anywhere else.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from safety_harness.metrics.verdicts import Judgement, Verdict
from safety_harness.plan.requirements import RequirementCase

GATE_PASS = "pass"
GATE_FAIL = "fail"
GATE_NO_VERDICT = "no_verdict"


@dataclass
class RequirementResult:
    """The outcome of one requirement case."""

    case: RequirementCase
    verdict: Verdict
    judgement: Judgement | None = None
    successes: int | None = None
    n: int | None = None
    class_name: str | None = None
    reason: str = ""
    details: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """One line a person reads in the terminal and the report."""
        requirement = self.case.requirement
        if self.judgement is None:
            return f"{self.case.case_id}: {self.verdict.value} — {self.reason}"
        j = self.judgement
        if self.successes is not None:
            counts = f" ({self.successes}/{self.n})"
        else:
            counts = "" if self.n is None else f" (n = {self.n})"
        text = (
            f"{self.case.case_id}: {requirement.metric} = {_fmt(j.value)}{counts}, "
            f"{int(round(j.confidence * 100))} % one-sided bound {_fmt(j.bound)}, "
            f"required {j.direction} {_fmt(j.threshold)} -> {self.verdict.value}"
        )
        if self.verdict is Verdict.INSUFFICIENT_EVIDENCE:
            if j.samples_needed is not None:
                text += f"; at the observed error count {j.samples_needed} samples would be needed (have {self.n})"
            else:
                text += "; no sample size can decide it at the observed error count"
        if self.reason:
            text += f". {self.reason}"
        return text

    def to_dict(self) -> dict:
        requirement = self.case.requirement
        j = self.judgement
        return {
            "id": self.case.case_id,
            "requirement": requirement.id,
            "title": requirement.title,
            "hazard": requirement.hazard,
            "metric": requirement.metric,
            "class": self.case.class_id,
            "class_name": self.class_name,
            "condition": str(self.case.condition),
            "n": self.n,
            "successes": self.successes,
            "value": _number(j.value) if j else None,
            "bound": _number(j.bound) if j else None,
            "confidence": requirement.confidence,
            "threshold": requirement.threshold,
            "direction": requirement.direction,
            "margin": _number(j.margin) if j else None,
            "samples_needed": j.samples_needed if j else None,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "parameters": {key: list(value) if isinstance(value, tuple) else value
                           for key, value in requirement.parameters.items()},
            "details": self.details,
        }


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


class EvidenceLog:
    """The results of one run, in the order they were judged."""

    def __init__(self):
        self.results: list[RequirementResult] = []

    def record(self, result: RequirementResult) -> RequirementResult:
        self.results.append(result)
        return result

    def verdict_counts(self) -> dict[str, int]:
        counts = {verdict.value: 0 for verdict in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        return counts

    @property
    def gate(self) -> str:
        """``pass`` only when something passed and nothing blocks the release."""
        verdicts = [result.verdict for result in self.results]
        if any(verdict.blocks_release for verdict in verdicts):
            return GATE_FAIL
        if Verdict.PASS in verdicts:
            return GATE_PASS
        return GATE_NO_VERDICT

    def to_dict(self, **sections) -> dict:
        return {
            "gate": self.gate,
            "verdict_counts": self.verdict_counts(),
            **sections,
            "requirements": [result.to_dict() for result in self.results],
        }


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` atomically: a killed run never leaves half a file that CI would read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
