"""What changed between two runs, from their evidence documents alone: the view a release reviewer
wants between the released model (run A) and the candidate (run B).

A pure function of the two documents: it reads nothing else (no model, no ingest, no TensorFlow),
so the comparison can be made from what two CI jobs archived. The documents are untrusted input:
each is read by :func:`read_evidence` (size cap, JSON, schema version, the pydantic model) and every
string of theirs is escaped by the template's autoescape.

Cases are matched by their case id (requirement, class, variant and condition). A rate case records
how many samples count against it and lists the first of them by file (``adverse_samples``); the
comparison shows how the count changed and which listed files are in one run's list only.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pydantic

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.evidence.document import (
    SCHEMA_VERSION,
    AdverseSample,
    EnsembleIdentity,
    EvidenceDocument,
    RequirementEvidence,
)
from safety_harness.metrics.verdicts import Verdict

#: the largest evidence file read (bytes), far above a run's evidence (the default run's: about 0.2 MB)
MAX_EVIDENCE_BYTES = 50 * 2**20
#: schema errors quoted in the message about a file that fails the schema
SCHEMA_ERRORS_SHOWN = 3

PASS, FAIL = Verdict.PASS, Verdict.FAIL
INSUFFICIENT, NOT_APPLICABLE = Verdict.INSUFFICIENT_EVIDENCE, Verdict.NOT_APPLICABLE

#: the name of each verdict change (A's verdict, B's verdict)
VERDICT_CHANGES = {
    (PASS, FAIL): "new failure",
    (NOT_APPLICABLE, FAIL): "new failure",
    (PASS, INSUFFICIENT): "newly insufficient evidence",
    (NOT_APPLICABLE, INSUFFICIENT): "newly insufficient evidence",
    (FAIL, PASS): "fixed failure",
    (INSUFFICIENT, PASS): "now shown to hold",
    (FAIL, INSUFFICIENT): "failure now insufficient evidence",
    (INSUFFICIENT, FAIL): "insufficient evidence now a failure",
    (NOT_APPLICABLE, PASS): "newly judged: pass",
    (PASS, NOT_APPLICABLE): "no longer judged (not applicable)",
    (FAIL, NOT_APPLICABLE): "no longer judged (not applicable)",
    (INSUFFICIENT, NOT_APPLICABLE): "no longer judged (not applicable)",
}

#: the fields of a case that define its requirement (a difference is a change of the requirements, not of the model)
DEFINITION_FIELDS = ("metric", "direction", "threshold", "confidence", "parameters")
#: the measured fields of a case shown side by side
MEASURED_FIELDS = ("verdict", "value", "bound", "margin", "n", "successes")

#: text colour of each verdict on the page's white, each at least 4.5:1 (WCAG AA; a test measures them)
VERDICT_COLOURS = {"pass": "#145214", "fail": "#b52a2a", "insufficient_evidence": "#8a4d00",
                   "not_applicable": "#595959"}
TEXT_COLOUR, PAGE_COLOUR, HEADER_COLOUR = "#1a1a1a", "#ffffff", "#ececec"


def read_evidence(path: Path) -> EvidenceDocument:
    """The evidence document in the file ``path``, checked as untrusted input.

    Raises :class:`HarnessInputError` naming the file when it is missing, larger than
    :data:`MAX_EVIDENCE_BYTES`, not JSON, of another schema version than :data:`SCHEMA_VERSION`
    (naming both), or fails the evidence model.
    """
    path = Path(path)
    fix = "give the evidence JSON a run wrote with --evidence (of this harness version)"
    if not path.is_file():
        raise HarnessInputError(f"evidence file {path} does not exist or is not a file", fix)
    size = path.stat().st_size
    if size > MAX_EVIDENCE_BYTES:
        raise HarnessInputError(f"evidence file {path} has {size} bytes, more than the {MAX_EVIDENCE_BYTES} an "
                                "evidence document may have", fix)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HarnessInputError(f"evidence file {path} is not JSON: {error}", fix) from None
    except RecursionError:  # arrays or objects nested deeper than Python's recursion limit: no evidence is
        raise HarnessInputError(f"evidence file {path} nests arrays or objects too deeply to be evidence", fix) from None
    if not isinstance(data, dict):
        raise HarnessInputError(f"evidence file {path} is JSON but not an object (an evidence document)", fix)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise HarnessInputError(
            f"evidence file {path} has schema version {shown(version)}; this harness reads schema version "
            f"{SCHEMA_VERSION!r}", "compare evidence of the same schema version: re-run the older model with this "
                                  "harness version, or compare with the harness version that wrote the file")
    try:
        return EvidenceDocument.model_validate(data)
    except pydantic.ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc']) or 'document'}: {e['msg']}"
                             for e in error.errors()[:SCHEMA_ERRORS_SHOWN])
        raise HarnessInputError(f"evidence file {path} does not follow the evidence schema "
                                f"({error.error_count()} error(s)): {shown(problems, 400)}", fix) from None


def _change(before: float | None, after: float | None) -> float | None:
    """``after - before``; None when either is missing."""
    if before is None or after is None:
        return None
    return after - before


def adverse_samples(case: RequirementEvidence) -> int | None:
    """How many samples count against the case (recorded for rate cases); None when not recorded."""
    return None if case.adverse_samples is None else case.adverse_samples.count


def _listed(case: RequirementEvidence) -> dict[str, AdverseSample]:
    """The case's listed adverse samples by file."""
    return {} if case.adverse_samples is None else {sample.path: sample for sample in case.adverse_samples.listed}


def _only_in(case: RequirementEvidence, other: RequirementEvidence) -> list[AdverseSample]:
    """The adverse samples ``case`` lists that ``other`` does not."""
    others = _listed(other)
    return [sample for path, sample in _listed(case).items() if path not in others]


@dataclass(frozen=True)
class CasePair:
    """One requirement case as judged in run A and in run B."""

    before: RequirementEvidence
    after: RequirementEvidence

    @property
    def id(self) -> str:
        return self.after.id

    @property
    def verdict_change(self) -> str | None:
        return VERDICT_CHANGES.get((self.before.verdict, self.after.verdict))

    @property
    def release_effect(self) -> str:
        """How the change moves the release gate."""
        before, after = self.before.verdict.blocks_release, self.after.verdict.blocks_release
        return {(False, True): "now blocks", (True, False): "no longer blocks",
                (True, True): "still blocks", (False, False): "does not block"}[before, after]

    @property
    def definition_changes(self) -> list[str]:
        """The fields of the requirement that differ between the two runs' requirements files."""
        return [name for name in DEFINITION_FIELDS if getattr(self.before, name) != getattr(self.after, name)]

    @property
    def value_change(self) -> float | None:
        return _change(self.before.value, self.after.value)

    @property
    def bound_change(self) -> float | None:
        return _change(self.before.bound, self.after.bound)

    @property
    def adverse_before(self) -> int | None:
        return adverse_samples(self.before)

    @property
    def adverse_after(self) -> int | None:
        return adverse_samples(self.after)

    @property
    def adverse_change(self) -> int | None:
        return _change(self.adverse_before, self.adverse_after)

    @property
    def adverse_only_before(self) -> list[AdverseSample]:
        """The files A lists against the case and B does not (no longer adverse, or beyond B's cap)."""
        return _only_in(self.before, self.after)

    @property
    def adverse_only_after(self) -> list[AdverseSample]:
        """The files B lists against the case and A does not (newly adverse, or beyond A's cap)."""
        return _only_in(self.after, self.before)

    @property
    def adverse_lists_complete(self) -> bool:
        """Both runs list every adverse sample of the case (none beyond the cap): the differences are exact."""
        return all(case.adverse_samples is None or case.adverse_samples.count <= len(case.adverse_samples.listed)
                   for case in (self.before, self.after))

    @property
    def adverse_differs(self) -> bool:
        return (self.adverse_before != self.adverse_after
                or bool(self.adverse_only_before) or bool(self.adverse_only_after))

    @property
    def measured_differs(self) -> bool:
        return (any(getattr(self.before, name) != getattr(self.after, name) for name in MEASURED_FIELDS)
                or self.adverse_differs)

    @property
    def differs(self) -> bool:
        return self.measured_differs or bool(self.definition_changes)


@dataclass(frozen=True)
class IdentityRow:
    """One property of the two runs' identities, and whether it differs."""

    name: str
    before: object
    after: object

    @property
    def differs(self) -> bool:
        return self.before != self.after


def _model_path(document: EvidenceDocument) -> str:
    model = document.model
    return " + ".join(member.path for member in model.members) if isinstance(model, EnsembleIdentity) else model.path


def identity_rows(before: EvidenceDocument, after: EvidenceDocument) -> list[IdentityRow]:
    """What identifies each run: the model, the data, the requirements, the seed and what ran it."""

    def row(name, read):
        return IdentityRow(name, read(before), read(after))

    return [
        row("Gate", lambda d: d.gate),
        row("Model SHA-256", lambda d: d.model.sha256),
        row("Model file", _model_path),
        row("Ingest SHA-256", lambda d: d.ingest.sha256),
        row("Ingest folder", lambda d: d.ingest.path),
        row("Images evaluated", lambda d: f"{d.ingest.evaluated} of {d.ingest.n}"),
        row("Requirements file", lambda d: d.requirements_file),
        row("Requirement cases judged", lambda d: len(d.requirements)),
        row("Seed", lambda d: d.environment.seed),
        row("Harness version", lambda d: d.environment.harness_version),
        row("Harness commit", lambda d: d.environment.harness_commit),
        row("Written at (UTC)", lambda d: d.environment.timestamp),
    ]


@dataclass(frozen=True)
class Comparison:
    """Run A (``before``, e.g. the released model) against run B (``after``, e.g. the candidate)."""

    before: EvidenceDocument
    after: EvidenceDocument
    before_name: str
    after_name: str
    identity: list[IdentityRow]
    pairs: list[CasePair]
    only_before: list[RequirementEvidence]
    only_after: list[RequirementEvidence]

    @property
    def verdict_changes(self) -> list[CasePair]:
        """The cases whose verdict changed: those that now block the release first."""
        order = ("now blocks", "still blocks", "no longer blocks", "does not block")
        changed = [pair for pair in self.pairs if pair.verdict_change is not None]
        return sorted(changed, key=lambda pair: order.index(pair.release_effect))

    @property
    def change_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pair in self.verdict_changes:
            counts[pair.verdict_change] = counts.get(pair.verdict_change, 0) + 1
        return counts

    @property
    def definition_changed(self) -> list[CasePair]:
        return [pair for pair in self.pairs if pair.definition_changes]

    @property
    def measured_changed(self) -> list[CasePair]:
        return [pair for pair in self.pairs if pair.measured_differs]

    @property
    def adverse_changed(self) -> list[CasePair]:
        return [pair for pair in self.pairs if pair.adverse_differs]

    @property
    def unchanged(self) -> list[CasePair]:
        return [pair for pair in self.pairs if not pair.differs]


def compare(before: EvidenceDocument, after: EvidenceDocument, before_name: str = "A",
            after_name: str = "B") -> Comparison:
    """Match the two runs' cases by id (in run B's order, then A's cases B lacks) and compare them."""
    before_cases = {case.id: case for case in before.requirements}
    after_cases = {case.id: case for case in after.requirements}
    pairs = [CasePair(before_cases[case.id], case) for case in after.requirements if case.id in before_cases]
    return Comparison(
        before=before, after=after, before_name=before_name, after_name=after_name,
        identity=identity_rows(before, after), pairs=pairs,
        only_before=[case for case in before.requirements if case.id not in after_cases],
        only_after=[case for case in after.requirements if case.id not in before_cases],
    )


def _shown(value) -> str:
    """A cell's text: a dash for nothing, four decimals for a float, else the value as text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _sample(sample: AdverseSample) -> str:
    """An adverse sample in one line: file, true class, predicted class and its probability."""
    truth = "unlabelled" if sample.true_class is None else sample.true_class
    return f"{sample.path}: {truth} → {sample.predicted_class} (p={sample.score:.2f})"


def _signed(change) -> str:
    """A change with its sign (a dash for none known, 0 for none)."""
    if change is None:
        return "—"
    if change == 0:
        return "0"
    return f"{change:+.4f}" if isinstance(change, float) else f"{change:+d}"


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("safety_harness.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters.update(shown=_shown, signed=_signed, sample=_sample)


def render_comparison(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page (no script, no external resource, printable)."""
    return _TEMPLATES.get_template("comparison.html.j2").render(
        c=comparison, verdict_colours=VERDICT_COLOURS, text_colour=TEXT_COLOUR, page_colour=PAGE_COLOUR,
        header_colour=HEADER_COLOUR, schema_version=SCHEMA_VERSION)
