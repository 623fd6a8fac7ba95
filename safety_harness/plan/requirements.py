"""Safety requirements as data: a YAML file a safety engineer edits without touching code.

Each entry names the hazard it guards against, the metric, the class and condition it
applies to, the threshold with its direction and the confidence level. Entries expand
into :class:`RequirementCase` objects, one per pytest item: ``class: each`` gives one
case per model class, a list of conditions one case per condition.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from safety_harness.core.errors import HarnessInputError
from safety_harness.metrics.calibration import BINNINGS
from safety_harness.metrics.verdicts import DIRECTIONS
from safety_harness.ood import DETECTORS

CLEAN = "clean"


@dataclass(frozen=True)
class MetricSpec:
    """What a metric needs from a requirement entry.

    ``class_key``: ``required`` (a ClassId or ``each``), ``optional`` or ``forbidden``;
    ``conditions``: ``any``, ``perturbed`` (a comparison with clean) or ``clean`` (the metric perturbs itself).
    """

    class_key: str
    needs_labels: bool = True
    conditions: str = "any"
    extra_keys: tuple[str, ...] = ()
    thresholded: bool = True
    #: a list-valued key that expands into one case per element (e.g. one per OOD set)
    variants_key: str | None = None


#: The metrics a requirement may name; each has a safety test that evaluates it.
METRICS = {
    "recall": MetricSpec("required"),
    "precision": MetricSpec("required"),
    "accuracy": MetricSpec("forbidden"),
    "confusion_rate": MetricSpec("required", extra_keys=("confused_with",)),
    "flip_rate": MetricSpec("optional", conditions="perturbed"),
    "accuracy_drop": MetricSpec("forbidden", conditions="perturbed"),
    # a search, not a rate: a counterexample found within the budget fails, none found passes
    "counterexample": MetricSpec("required", conditions="clean", extra_keys=("budget", "max_examples"),
                                 thresholded=False),
    "ece": MetricSpec("optional", extra_keys=("bins", "binning")),
    "mce": MetricSpec("forbidden", extra_keys=("bins", "binning")),
    "alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean",
                             extra_keys=("detector", "target_false_alarm_rate", "ood_sets"), variants_key="ood_sets"),
    "false_alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean",
                                   extra_keys=("detector", "target_false_alarm_rate")),
    "auroc": MetricSpec("forbidden", needs_labels=False, conditions="clean", extra_keys=("detector", "ood_sets"),
                        variants_key="ood_sets"),
    "drift": MetricSpec("forbidden", needs_labels=False, conditions="clean",
                        extra_keys=("detector", "target_false_alarm_rate")),
}

_REQUIRED_KEYS = ("id", "title", "hazard", "metric")
_OPTIONAL_PARAMETERS = {"bins": 15, "binning": "equal_width", "target_false_alarm_rate": 0.05}
_THRESHOLD_KEYS = ("threshold", "direction")
_OPTIONAL_KEYS = ("class", "condition", "confidence", "rationale")


@dataclass(frozen=True)
class Requirement:
    """One entry of the requirements file."""

    id: str
    title: str
    hazard: str
    metric: str
    threshold: float | None
    direction: str | None
    confidence: float
    class_id: int | str | None = None  # a ClassId, "each", or None for whole-ingest metrics
    conditions: tuple[str, ...] = (CLEAN,)
    rationale: str = ""
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RequirementCase:
    """One pytest item: a requirement applied to one class and one condition."""

    requirement: Requirement
    class_id: int | None
    condition: str
    variant: str | None = None

    @property
    def case_id(self) -> str:
        case_id = self.requirement.id
        if self.requirement.class_id == "each":
            case_id += f"-class{self.class_id:02d}"
        if self.variant is not None:
            case_id += f"-{self.variant}"
        if len(self.requirement.conditions) > 1 or self.condition != CLEAN:
            case_id += f"@{self.condition}"
        return case_id


def _expand_severities(condition: str) -> list[str]:
    """``"rain:1-3"`` -> ``["rain:1", "rain:2", "rain:3"]``; anything else as it is."""
    match = re.fullmatch(r"([^:]+):(\d+)-(\d+)", condition)
    if not match:
        return [condition]
    name, first, last = match.group(1), int(match.group(2)), int(match.group(3))
    return [f"{name}:{severity}" for severity in range(first, last + 1)]


def _fail(path, problem, fix="Edit the requirements file; see README.md, section 'Requirements reference'."):
    raise HarnessInputError(f"Requirements file {path}: {problem}", fix)


def _parse_entry(path, index, entry, defaults) -> Requirement:
    where = f"entry {index + 1}"
    if not isinstance(entry, dict):
        _fail(path, f"{where} is not a mapping")
    where = f"requirement {entry.get('id', where)!s}"
    metric = entry.get("metric")
    if metric is not None and metric not in METRICS:
        _fail(path, f"{where} names unknown metric {metric!r}; known metrics: {', '.join(sorted(METRICS))}")
    spec = METRICS.get(metric, METRICS["recall"])
    required = _REQUIRED_KEYS + (_THRESHOLD_KEYS if spec.thresholded else ())
    missing = [key for key in required if key not in entry]
    if missing:
        _fail(path, f"{where} lacks {', '.join(missing)}")
    unknown = set(entry) - set(required) - set(_OPTIONAL_KEYS) - set(spec.extra_keys)
    if unknown:
        _fail(path, f"{where} has unknown key(s) {', '.join(sorted(unknown))}")
    missing_extra = [key for key in spec.extra_keys if key not in entry and key not in _OPTIONAL_PARAMETERS]
    if missing_extra:
        _fail(path, f"{where}: metric {metric!r} needs {', '.join(missing_extra)}")
    direction, threshold = entry.get("direction"), entry.get("threshold")
    if spec.thresholded:
        if direction not in DIRECTIONS:
            _fail(path, f"{where} has direction {direction!r}; use '>=' or '<='")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            _fail(path, f"{where} has threshold {threshold!r}; it must be a number in [0, 1]")
        threshold = float(threshold)
    confidence = entry.get("confidence", defaults.get("confidence", 0.95))
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
        _fail(path, f"{where} has confidence {confidence!r}; it must be in [0.5, 1)")
    class_id = entry.get("class")
    if class_id is None:
        if spec.class_key == "required":
            _fail(path, f"{where}: metric {metric!r} needs 'class', a ClassId or 'each'")
    elif spec.class_key == "forbidden":
        _fail(path, f"{where}: metric {metric!r} applies to the whole ingest; remove 'class'")
    elif class_id != "each" and (isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0):
        _fail(path, f"{where}: 'class' must be a ClassId or 'each' (got {class_id!r})")
    conditions = entry.get("condition", defaults.get("condition", CLEAN))
    conditions = conditions if isinstance(conditions, list) else [conditions]
    if not conditions or not all(isinstance(c, str) and c for c in conditions):
        _fail(path, f"{where} has condition {entry.get('condition')!r}; use 'clean', 'name:severity' or a list of them")
    conditions = tuple(c for condition in conditions for c in _expand_severities(condition))
    if spec.conditions == "perturbed" and CLEAN in conditions:
        _fail(path, f"{where}: metric {metric!r} compares a perturbed condition with clean; list only perturbed ones")
    if spec.conditions == "clean" and conditions != (CLEAN,):
        _fail(path, f"{where}: metric {metric!r} searches perturbations itself; its condition must be clean")
    parameters = {key: entry.get(key, _OPTIONAL_PARAMETERS.get(key)) for key in spec.extra_keys}
    _check_uncertainty_parameters(path, where, parameters)
    if "confused_with" in parameters:
        confused = parameters["confused_with"]
        if not isinstance(confused, list) or not confused or not all(isinstance(c, int) and not isinstance(c, bool) for c in confused):
            _fail(path, f"{where}: confused_with must be a non-empty list of ClassIds")
        if class_id in confused:
            _fail(path, f"{where}: confused_with must not contain its own class {class_id}")
        parameters["confused_with"] = tuple(confused)
    if "budget" in parameters and not (isinstance(parameters["budget"], (int, float)) and 0 < parameters["budget"] <= 1):
        _fail(path, f"{where}: budget must be the largest covered share of the sign, in (0, 1]")
    if "max_examples" in parameters and not (isinstance(parameters["max_examples"], int)
                                             and not isinstance(parameters["max_examples"], bool)
                                             and parameters["max_examples"] > 0):
        _fail(path, f"{where}: max_examples must be a positive integer")
    return Requirement(
        id=str(entry["id"]),
        title=str(entry["title"]),
        hazard=str(entry["hazard"]),
        metric=metric,
        threshold=threshold,
        direction=direction,
        confidence=float(confidence),
        class_id=class_id,
        conditions=conditions,
        rationale=str(entry.get("rationale", "")),
        parameters=parameters,
    )


def _check_uncertainty_parameters(path, where, parameters):
    if "bins" in parameters and not (isinstance(parameters["bins"], int) and 1 <= parameters["bins"] <= 100):
        _fail(path, f"{where}: bins must be an integer in 1..100")
    if "binning" in parameters and parameters["binning"] not in BINNINGS:
        _fail(path, f"{where}: binning must be one of {', '.join(BINNINGS)}")
    if "detector" in parameters and parameters["detector"] not in DETECTORS:
        _fail(path, f"{where}: detector must be one of {', '.join(DETECTORS)}")
    target = parameters.get("target_false_alarm_rate", 0.05)
    if not (isinstance(target, float) and 0 < target < 1):
        _fail(path, f"{where}: target_false_alarm_rate must be a number in (0, 1)")
    if "ood_sets" in parameters:
        sets = parameters["ood_sets"]
        if not isinstance(sets, list) or not sets or not all(isinstance(s, str) for s in sets):
            _fail(path, f"{where}: ood_sets must be a non-empty list of OOD set names")
        parameters["ood_sets"] = tuple(sets)


def load_requirements(path) -> tuple[Requirement, ...]:
    """Read and validate a requirements file (YAML, safe loader)."""
    path = Path(path)
    if not path.is_file():
        raise HarnessInputError(
            f"Requirements file {path} does not exist",
            "Pass --requirements PATH to an existing YAML file, or omit it to use the bundled safety_tests/requirements.yaml.",
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        _fail(path, f"is not valid YAML ({error})")
    if not isinstance(document, dict) or not isinstance(document.get("requirements"), list):
        _fail(path, "has no 'requirements' list at the top level")
    defaults = document.get("defaults") or {}
    requirements = tuple(_parse_entry(path, i, entry, defaults) for i, entry in enumerate(document["requirements"]))
    seen = set()
    for requirement in requirements:
        if requirement.id in seen:
            _fail(path, f"requirement id {requirement.id!r} appears twice; ids must be unique")
        seen.add(requirement.id)
    return requirements


#: in ``ood_sets``, stands for every OOD set the user gave with ``--ood-set``
GIVEN_OOD_SETS = "given"


def expand_cases(requirements, num_classes: int, given_ood_sets=()) -> list[RequirementCase]:
    """One case per (requirement, class, condition, variant), in file order.

    ``class: each`` expands over the model's ``num_classes`` classes; a requirement that
    names a class the model does not have is an error. ``ood_sets: [given]`` expands over
    the names of ``given_ood_sets`` (a single ``given`` case when there are none, judged
    not applicable).
    """
    cases = []
    for requirement in requirements:
        if requirement.class_id == "each":
            classes = range(num_classes)
        else:
            if isinstance(requirement.class_id, int) and requirement.class_id >= num_classes:
                raise HarnessInputError(
                    f"Requirement {requirement.id} names class {requirement.class_id}, "
                    f"but the model has {num_classes} classes (0..{num_classes - 1})",
                    "Fix the requirement's 'class', or the model card's 'classes'.",
                )
            classes = [requirement.class_id]
        key = METRICS[requirement.metric].variants_key
        variants = requirement.parameters[key] if key else (None,)
        if given_ood_sets and key == "ood_sets":
            variants = [name for variant in variants
                        for name in (given_ood_sets if variant == GIVEN_OOD_SETS else [variant])]
        for class_id in classes:
            for condition in requirement.conditions:
                cases.extend(RequirementCase(requirement, class_id, condition, variant) for variant in variants)
    return cases


def with_metric(cases, metric: str) -> list[RequirementCase]:
    return [case for case in cases if case.requirement.metric == metric]


