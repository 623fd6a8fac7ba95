"""Evidence: what each requirement was judged on, gathered for the report and the JSON.

The JSON is the machine-readable record a CI gate and an auditor read; the HTML
report renders the same records. Nothing in either is computed anywhere else.

A result also carries, as run data, what the report shows beside it (its *exhibits*: the samples
behind the verdict, reliability bins, score histograms, a counterexample); while the run is alive
they are drawn into the evidence bundle (safety_harness/report/exhibits.py: each case's ``exhibits``
in the JSON, pictures as files beside it), from which the report is rendered.
"""

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from safety_harness.families.registry import METRICS
from safety_harness.metrics.attraction import StickerAttraction
from safety_harness.metrics.calibration import ReliabilityBins
from safety_harness.metrics.group_bounds import group_p_value
from safety_harness.metrics.multiplicity import holm_deciding_hypotheses, holm_joint_confidence, rate_p_value
from safety_harness.metrics.verdicts import Judgement, SamplesNeeded, Verdict
from safety_harness.run.predictions import Predictions
from safety_harness.run.sticker_attraction import Corroboration

if TYPE_CHECKING:  # the families' judges build results, and the requirements read the families
    from safety_harness.plan.requirements import RequirementCase


@dataclass(frozen=True)
class SampleGallery:
    """Samples of ``predictions`` at ``positions``, titled ``title``.

    ``adverse``: the samples count against the requirement, and are shown when the verdict blocks
    the release; otherwise they illustrate the evidence (e.g. the most alarming ingest images)
    and are always shown.
    """

    title: str
    predictions: Predictions
    positions: np.ndarray
    adverse: bool


@dataclass(frozen=True)
class DiscordantImages:
    """The images at ``positions`` of ``predictions`` on which the model under test and the baseline
    (``baseline_predicted``, aligned with ``predictions``) differ, titled ``title``; always shown."""

    title: str
    predictions: Predictions
    baseline_predicted: np.ndarray
    positions: np.ndarray


@dataclass(frozen=True)
class MissedOodInputs:
    """The inputs of an OOD set that did not raise the alarm: ``positions`` in the set's ``images``,
    with every input's detector score in ``scores``; shown when the verdict blocks the release."""

    set_name: str
    images: np.ndarray
    positions: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Reliability:
    """The reliability bins a calibration statistic was computed from: one-vs-rest of ``class_id``,
    or of the top-label confidence when ``class_id`` is None."""

    bins: ReliabilityBins
    class_id: int | None = None


@dataclass(frozen=True)
class ScoreHistograms:
    """An OOD detector's scores on two sets, with the alarm threshold."""

    scores_in: np.ndarray
    scores_out: np.ndarray
    threshold: float
    name_in: str
    name_out: str


@dataclass(frozen=True)
class RiskCoverage:
    """A risk-coverage curve (selective risk against coverage as the alarm threshold moves) with the
    operating point of the chosen ``threshold`` (``chosen_risk`` None: it accepts nothing)."""

    coverage: np.ndarray
    selective_risk: np.ndarray
    threshold: float
    chosen_coverage: float
    chosen_risk: float | None


@dataclass(frozen=True)
class Counterexample:
    """An image the model recognises and its perturbed copy that it does not."""

    original: np.ndarray
    perturbed: np.ndarray
    original_class: int
    predicted_class: int
    confidence: float
    description: str


@dataclass(frozen=True)
class AttractionBySet:
    """Sticker attraction per stickered set (the class that attracts most in each, with its Bonferroni-corrected
    bounds), and the relevance on the stickers of flips into the attracting class beside flips into others, with
    the first flips' maps (``corroboration``; None when no explainer applies to the model)."""

    attraction: StickerAttraction
    corroboration: Corroboration | None


@dataclass(frozen=True)
class ReverseEngineeredTriggers:
    """Reverse-engineered triggers of ``class_ids`` (smallest norm first): masks (n, H, W) in [0, 1],
    patterns (n, H, W, C) in the model's input range, L1 norms; ``flagged`` the class found anomalous, or None."""

    class_ids: tuple[int, ...]
    masks: np.ndarray
    patterns: np.ndarray
    norms: tuple[float, ...]
    flagged: int | None


@dataclass(frozen=True)
class TrainingShortcutCluster:
    """A class of the training data whose SpRAy cluster concentrates its relevance (``clusters``: a
    run.training_shortcut.ClassClusters with the cluster's mean image, mean map and examples), with the lower bound
    of its share and the explainer whose maps were clustered."""

    clusters: object
    lower_bound: float
    explainer: str
    sanity_passed: bool


GATE_PASS = "pass"
GATE_FAIL = "fail"
GATE_NO_VERDICT = "no_verdict"


SAMPLES_NEEDED_TEXT = {
    SamplesNeeded.COMPUTED: "at the observed error count {needed} {unit} would be needed (have {n}: {more} more)",
    SamplesNeeded.IMPOSSIBLE: "no sample size can decide it at the observed error count",
    SamplesNeeded.NOT_DEFINED: "the bound's method gives no sample size that would decide it",
}


@dataclass
class RequirementResult:
    """The outcome of one requirement case."""

    case: "RequirementCase"
    verdict: Verdict
    judgement: Judgement | None = None
    successes: int | None = None
    n: int | None = None
    class_name: str | None = None
    reason: str = ""
    details: dict = field(default_factory=dict)
    #: what the report shows beside the result, as data (the exhibit classes above)
    exhibits: tuple = ()
    #: for a statistic over images: ``independence`` ("groups": its bound is over groups of dependent images;
    #: "images": every image counted as independent) and ``reason`` (how the groups were formed, or why not)
    independence: dict | None = None
    #: for a rate over images: how many samples count against it and the first of them by file
    #: (``count``, ``cap``, ``listed``: the evidence's AdverseSamples)
    adverse_samples: dict | None = None
    #: why the statistic says little although it could be computed (e.g. "uninformative: 2 of 15 bins occupied")
    degenerate: str | None = None

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
        over = "" if j.grouped is None else (
            f" over {j.grouped.groups} groups (effective sample size {j.grouped.effective_n:.1f}, intra-class "
            f"correlation {j.grouped.correlation:.2f}; image-level bound {_fmt(j.grouped.image_bound)})")
        text = (
            f"{self.case.case_id}: {requirement.metric} = {_fmt(j.value)}{counts}, "
            f"{int(round(j.confidence * 100))} % one-sided bound {_fmt(j.bound)}{over}, "
            f"required {j.direction} {_fmt(j.threshold)} -> {self.verdict.value}"
        )
        if j.samples_needed_status is not None:
            groups = None if j.grouped is None else j.grouped.groups
            text += f"; {samples_needed_text(j.samples_needed_status, j.samples_needed, self.n, groups)}"
        if self.degenerate:
            text += f"; {self.degenerate}"
        if self.reason:
            text += f". {self.reason}"
        return text

    def _independence(self) -> dict | None:
        if self.independence is None:
            return None
        grouped = self.judgement.grouped if self.judgement else None
        return {"groups": None, **self.independence,
                "image_bound": None if grouped is None else _number(grouped.image_bound),
                **({} if grouped is None else {"groups": grouped.groups}),
                "effective_n": None if grouped is None else round(grouped.effective_n, 3),
                "correlation": None if grouped is None else round(grouped.correlation, 6),
                "correlation_source": None if grouped is None else grouped.correlation_source}

    def to_dict(self) -> dict:
        requirement = self.case.requirement
        j = self.judgement
        return {
            "id": self.case.case_id,
            "requirement": requirement.id,
            "title": requirement.title,
            "hazard": requirement.hazard,
            "rationale": requirement.rationale,
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
            "samples_needed_status": j.samples_needed_status.value if j and j.samples_needed_status else None,
            "samples_needed_unit": ("independent groups" if j.grouped else "images") if j and j.samples_needed else None,
            "events_to_block": j.events_to_block if j else None,
            "independence": self._independence(),
            "adverse_samples": self.adverse_samples,
            "degenerate": self.degenerate,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "parameters": {key: list(value) if isinstance(value, tuple) else value
                           for key, value in requirement.parameters.items()},
            "details": self.details,
        }


def samples_needed_text(status: SamplesNeeded, needed: int | None, n: int | None, groups: int | None = None) -> str:
    """What an ``insufficient_evidence`` judgement says of the sample size that would decide it: in samples
    (have ``n``), or for a rate bounded over ``groups`` groups, in independent groups."""
    unit, have = ("samples", n) if groups is None else ("independent groups", groups)
    more = None if needed is None or have is None else needed - have
    return SAMPLES_NEEDED_TEXT[status].format(needed=needed, n=have, unit=unit, more=more)


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

    def gate_joint_confidence(self, family_wise: bool = False) -> dict:
        """Holm's simultaneous confidence that every passing rate requirement holds (None: none passed).

        Only rates have the p-value Holm's procedure needs (over groups, at their effective counts); the
        passing cases judged without a single binomial count (calibration, ranking and drift statistics on a
        bootstrap or distance bound, the counterexample search, sticker attraction over every class) are
        named as left out.
        """
        passed = [result for result in self.results if result.verdict is Verdict.PASS]
        rates = [result for result in passed if result.successes is not None]
        p_values = np.array([rate_p_value(r.successes, r.n, r.case.requirement.threshold, r.case.requirement.direction)
                             if r.judgement is None or r.judgement.grouped is None
                             else group_p_value(r.judgement.grouped, r.case.requirement.threshold) for r in rates])
        # what --family-wise would judge: every rate case of the run at 1 - (1 - c) / m (RunPlan.selected)
        family = sum(METRICS[result.case.requirement.metric].binomial for result in self.results)
        levels = np.array([(1 - r.case.requirement.confidence) / (1 if family_wise else family) for r in rates])
        family_wise_passing = int(np.sum(p_values <= levels))
        gate = self.gate
        return {
            "value": _number(holm_joint_confidence(p_values)) if rates else None,
            "method": "holm",
            "rate_cases": len(rates),
            "set_by": [rates[i].case.case_id for i in holm_deciding_hypotheses(p_values)] if rates else [],
            "family_wise_passing": family_wise_passing,
            "family_wise_gate": GATE_FAIL if gate == GATE_PASS and family_wise_passing < len(rates) else gate,
            "left_out": [result.case.case_id for result in passed if result.successes is None],
            "family_wise": family_wise,
        }

    def to_dict(self, family_wise: bool = False, **sections) -> dict:
        """The evidence document's content; ``family_wise``: the rate cases were judged at family-wise levels."""
        return {
            "gate": self.gate,
            "gate_joint_confidence": self.gate_joint_confidence(family_wise),
            "verdict_counts": self.verdict_counts(),
            **sections,
            "requirements": [result.to_dict() for result in self.results],
        }

