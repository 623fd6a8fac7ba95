"""The run plan: what one session evaluates, built once and read by every part of it.

The requirements file is read, validated and expanded into cases once per session; pytest
creates its items from the plan, and after deselection (``-k``, ``-m``) the plan narrowed to
the remaining cases drives the run: it predicts only the conditions those cases read, and the
report and evidence document only their requirements and perturbations.
"""

import dataclasses
import functools
import hashlib
from pathlib import Path

from safety_harness.backdoor.neural_cleanse import DEFAULT_STEPS as DEFAULT_TRIGGER_SCAN_STEPS
from safety_harness.core.errors import HarnessInputError
from safety_harness.core.provenance import Generated
from safety_harness.families.bundled import family_of
from safety_harness.ingest.reader import MAX_IMAGE_PIXELS
from safety_harness.metrics.bootstrap import DEFAULT_RESAMPLES
from safety_harness.model_under_test import resolve_card
from safety_harness.ood import DETECTORS, OOD_SET_NAMES, Detector
from safety_harness.perturbations import get_perturbation
from safety_harness.plan.conditions import Condition
from safety_harness.plan.requirements import (
    CLEAN,
    GIVEN_OOD_SETS,
    METRICS,
    Requirement,
    RequirementCase,
    expand_cases,
    load_requirements,
)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Everything the user chose for this run (the command-line options)."""

    model_path: Path
    card_path: Path | None
    ingest_path: Path
    requirements_path: Path
    #: the ``--class-map`` file mapping class folder names to class ids; None: the card's class names
    class_map_path: Path | None = None
    #: the ``--groups`` file naming each ingest image's group of dependent images; None: from the ingest or estimated
    groups_path: Path | None = None
    seed: int = 0
    allow_corrupt_images: bool = False
    allow_unsafe_model: bool = False
    reference_path: Path | None = None
    #: the data the model was trained on (``--training-data``); None: not given
    training_data_path: Path | None = None
    batch_size: int = 256
    #: where predictions persist between runs; None: computed afresh every run
    cache_dir: Path | None = None
    #: user-given out-of-distribution image folders (near OOD), named by their folder
    ood_set_paths: tuple[Path, ...] = ()
    #: resamples of every bootstrap bound (calibration, AUROC); recorded in each result's evidence
    bootstrap_resamples: int = DEFAULT_RESAMPLES
    #: judge every rate case at the level that makes the gate's joint claim hold at the stated confidence
    family_wise: bool = False
    #: where the prediction stage runs: None here, else a Ray address (run/distributed.py)
    ray_address: str | None = None
    ray_workers: int = 2
    #: the folder Ray workers write their shards to
    ray_store: Path | None = None
    #: a deep ensemble's members after ``model_path``, each (model, its card or None: the YAML beside it)
    further_members: tuple[tuple[Path, Path | None], ...] = ()
    #: the released model the paired requirements compare with (``--baseline-model``), and its card (None: the YAML
    #: beside it); None: no baseline, the paired requirements are not applicable
    baseline_model_path: Path | None = None
    baseline_card_path: Path | None = None
    #: steps of the trigger scan, every class at once (safety_harness/run/trigger_scan.py)
    trigger_scan_steps: int = DEFAULT_TRIGGER_SCAN_STEPS
    #: the most pixels an image may declare (safety_harness/ingest/reader.py): a cap against decompression bombs
    max_image_pixels: int = MAX_IMAGE_PIXELS
    #: how the harness generated the ingest and the reference (the bundled ones); None: a folder the user gave
    ingest_generated: Generated | None = None
    reference_generated: Generated | None = None

    @property
    def generated_paths(self) -> tuple[Path, ...]:
        """The data folders the bundled renderer drew, every image from its own seed (so each image is its own
        group)."""
        return tuple(Path(path) for path, generated in ((self.ingest_path, self.ingest_generated),
                                                        (self.reference_path, self.reference_generated))
                     if generated is not None)

    @property
    def members(self) -> tuple[tuple[Path, Path | None], ...]:
        """Every model under test with its card path (None: the YAML beside it): one, or an ensemble's members."""
        return ((self.model_path, self.card_path), *self.further_members)

    @property
    def given_ood_set_names(self) -> tuple[str, ...]:
        return tuple(Path(path).name for path in self.ood_set_paths)


#: why a requirement of the file has no case in a narrowed plan
NOT_SELECTED = "not selected in this session (-k, -m or the test files named): none of its cases ran"


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """The resolved inputs, the validated requirements and the cases to evaluate, with what the cases need."""

    options: RunOptions
    requirements: tuple[Requirement, ...]
    cases: tuple[RequirementCase, ...]
    requirements_sha256: str
    #: the requirements of the file this plan judges no case of, each with the reason
    left_out: tuple[tuple[Requirement, str], ...] = ()

    def selected(self, case_ids) -> "RunPlan":
        """The plan narrowed to the cases named by ``case_ids`` (the items left after deselection).

        With ``family_wise``, each of the ``m`` rate cases selected is judged at confidence
        ``1 - (1 - c) / m`` (Bonferroni): the verdict of a case must be known when its test runs,
        before the other cases' results, which Holm's step-down would need; Bonferroni is that
        procedure's first step, and with it every rate case that passes holds simultaneously with
        confidence at least ``1 - mean(1 - c)`` (``c`` when all state the same).
        """
        wanted = set(case_ids)
        cases = tuple(case for case in self.cases if case.case_id in wanted)
        if self.options.family_wise:
            rates = sum(METRICS[case.requirement.metric].binomial for case in cases)
            cases = tuple(_judged_family_wise(case, rates) if METRICS[case.requirement.metric].binomial else case
                          for case in cases)
        requirements = {case.requirement.id for case in cases}
        left_out = tuple((r, NOT_SELECTED) for r in self.requirements if r.id not in requirements)
        return dataclasses.replace(self, requirements=tuple(r for r in self.requirements if r.id in requirements),
                                   cases=cases, left_out=self.left_out + left_out)

    @functools.cached_property
    def _cases_by_id(self) -> dict:
        return {case.case_id: case for case in self.cases}

    def case(self, case_id: str) -> RequirementCase:
        """The planned case with ``case_id``, as it is judged (with ``family_wise``, at its adjusted confidence)."""
        return self._cases_by_id[case_id]

    @functools.cached_property
    def conditions(self) -> tuple[Condition, ...]:
        """The conditions the cases read, in case order (``clean`` among them when a case reads it)."""
        return tuple(dict.fromkeys(case.condition for case in self.cases))

    @functools.cached_property
    def classes_per_condition(self) -> dict[Condition, frozenset[int] | None]:
        """For each perturbed condition, the classes its cases read (None: every image).

        A condition read only by stop-sign requirements perturbs only the stop signs."""
        classes: dict[Condition, frozenset[int] | None] = {}
        for case in self.cases:
            if case.condition.is_clean:
                continue
            if case.class_id is None or classes.get(case.condition, frozenset()) is None:
                classes[case.condition] = None
            else:
                classes[case.condition] = classes.get(case.condition, frozenset()) | {case.class_id}
        return classes

    @functools.cached_property
    def perturbations_used(self) -> tuple[str, ...]:
        """The names of the perturbations the cases apply, sorted: those of their perturbed conditions and those
        their families apply themselves (the stickers of a counterexample search or of sticker attraction)."""
        names = {condition.name for condition in self.classes_per_condition}
        for case in self.cases:
            names.update(family_of(case.requirement.metric).perturbations)
        return tuple(sorted(names))

    @functools.cached_property
    def ood_sets_needed(self) -> tuple[str, ...]:
        """The OOD sets (generated or given) the cases read, in case order."""
        return tuple(dict.fromkeys(case.variant for case in self.cases
                                   if "ood_sets" in case.requirement.parameters and case.variant != GIVEN_OOD_SETS))

    @functools.cached_property
    def mc_dropout_conditions(self) -> frozenset[Condition]:
        """The conditions whose predictions carry MC dropout scores: those of the cases whose detector reads
        them, and clean (the in-distribution data detectors are fitted on) when there is any."""
        conditions = {case.condition for case in self.cases
                      if DETECTORS.get(case.requirement.parameters.get("detector"), Detector).needs_mc_dropout}
        return frozenset(conditions | {CLEAN}) if conditions else frozenset()

    @functools.cached_property
    def needs_uncertainty(self) -> bool:
        """Whether a case reads an OOD detector, hence the reference data, its fitted detectors and thresholds."""
        return any("detector" in case.requirement.parameters for case in self.cases)


def _judged_family_wise(case: RequirementCase, rate_cases: int) -> RequirementCase:
    requirement = case.requirement
    confidence = 1 - (1 - requirement.confidence) / rate_cases
    return dataclasses.replace(case, requirement=dataclasses.replace(requirement, confidence=confidence))


def plan_run(options: RunOptions) -> RunPlan:
    """Read and validate the requirements and expand them over the model card's classes and the given
    OOD sets: every case of the session. Needs the card only, not the model (no TensorFlow)."""
    card, _, _ = resolve_card(options.model_path, options.card_path)
    requirements = load_requirements(options.requirements_path)
    plan = RunPlan(options, requirements,
                   tuple(expand_cases(requirements, len(card.class_names), options.given_ood_set_names)),
                   hashlib.sha256(options.requirements_path.read_bytes()).hexdigest())
    _check_conditions(plan)
    _check_ood_sets(plan)
    _check_baseline(options, card)
    return plan


def _check_baseline(options: RunOptions, card):
    """A baseline is compared class for class with the model under test: its card must name the same classes
    (its input size and preprocessing are its own)."""
    if options.baseline_model_path is None:
        if options.baseline_card_path is not None:
            raise HarnessInputError(f"--baseline-card {options.baseline_card_path} is given without --baseline-model",
                                    "Pass --baseline-model PATH with it, or drop --baseline-card.")
        return
    baseline_card, card_path, _ = resolve_card(options.baseline_model_path, options.baseline_card_path)
    if tuple(baseline_card.class_names) != tuple(card.class_names):
        where = f" (card {card_path})" if card_path is not None else ""
        counts = (len(baseline_card.class_names), len(card.class_names))
        differ = (f"has {counts[0]} classes, the model under test {counts[1]}" if counts[0] != counts[1]
                  else "names or orders its classes otherwise than the model under test")
        raise HarnessInputError(
            f"--baseline-model {options.baseline_model_path}{where} {differ}: the two cannot be compared class "
            "for class",
            "Compare models of the same classes in the same order: fix the baseline's card 'classes', or pass the "
            "released model of this classifier.")


def _check_conditions(plan: RunPlan):
    """An unknown perturbation stops the run before any test (the requirements file checked the form)."""
    for condition in plan.classes_per_condition:
        get_perturbation(condition.name)


def _check_ood_sets(plan: RunPlan):
    """An unknown OOD set in a requirement stops the run before any test."""
    known = (*OOD_SET_NAMES, *plan.options.given_ood_set_names, GIVEN_OOD_SETS)
    for case in plan.cases:
        if case.requirement.parameters.get("ood_sets") and case.variant not in known:
            raise HarnessInputError(f"Requirement {case.requirement.id} names OOD set {case.variant!r}",
                                    f"Use one of: {', '.join(known)} ('given': the folders of --ood-set).")
