"""Safety requirements as data: a YAML file a safety engineer edits without touching code.

Each entry names the hazard it guards against, the metric, the class and condition it
applies to, the threshold with its direction and the confidence level. Entries expand
into :class:`RequirementCase` objects, one per pytest item: ``class: each`` gives one
case per model class, a list of conditions one case per condition.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import HarnessInputError
from metrics.verdicts import DIRECTIONS

CLEAN = "clean"


@dataclass(frozen=True)
class MetricSpec:
    """What a metric needs from a requirement entry."""

    needs_class: bool
    needs_labels: bool = True
    extra_keys: tuple[str, ...] = ()


#: The metrics a requirement may name; each has a safety test that evaluates it.
METRICS = {
    "recall": MetricSpec(needs_class=True),
    "precision": MetricSpec(needs_class=True),
    "accuracy": MetricSpec(needs_class=False),
    "confusion_rate": MetricSpec(needs_class=True, extra_keys=("confused_with",)),
}

_REQUIRED_KEYS = ("id", "title", "hazard", "metric", "threshold", "direction")
_OPTIONAL_KEYS = ("class", "condition", "confidence", "rationale")


@dataclass(frozen=True)
class Requirement:
    """One entry of the requirements file."""

    id: str
    title: str
    hazard: str
    metric: str
    threshold: float
    direction: str
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

    @property
    def case_id(self) -> str:
        case_id = self.requirement.id
        if self.requirement.class_id == "each":
            case_id += f"-class{self.class_id:02d}"
        if len(self.requirement.conditions) > 1 or self.condition != CLEAN:
            case_id += f"@{self.condition}"
        return case_id


def _fail(path, problem, fix="Edit the requirements file; see README.md, section 'Requirements reference'."):
    raise HarnessInputError(f"Requirements file {path}: {problem}", fix)


def _parse_entry(path, index, entry, defaults) -> Requirement:
    where = f"entry {index + 1}"
    if not isinstance(entry, dict):
        _fail(path, f"{where} is not a mapping")
    where = f"requirement {entry.get('id', where)!s}"
    missing = [key for key in _REQUIRED_KEYS if key not in entry]
    if missing:
        _fail(path, f"{where} lacks {', '.join(missing)}")
    metric = entry["metric"]
    if metric not in METRICS:
        _fail(path, f"{where} names unknown metric {metric!r}; known metrics: {', '.join(sorted(METRICS))}")
    spec = METRICS[metric]
    unknown = set(entry) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS) - set(spec.extra_keys)
    if unknown:
        _fail(path, f"{where} has unknown key(s) {', '.join(sorted(unknown))}")
    missing_extra = [key for key in spec.extra_keys if key not in entry]
    if missing_extra:
        _fail(path, f"{where}: metric {metric!r} needs {', '.join(missing_extra)}")
    direction = str(entry["direction"])
    if direction not in DIRECTIONS:
        _fail(path, f"{where} has direction {direction!r}; use '>=' or '<='")
    threshold = entry["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        _fail(path, f"{where} has threshold {threshold!r}; it must be a number in [0, 1]")
    confidence = entry.get("confidence", defaults.get("confidence", 0.95))
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
        _fail(path, f"{where} has confidence {confidence!r}; it must be in [0.5, 1)")
    class_id = entry.get("class")
    if spec.needs_class:
        if class_id != "each" and (isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0):
            _fail(path, f"{where}: metric {metric!r} needs 'class', a ClassId or 'each' (got {class_id!r})")
    elif class_id is not None:
        _fail(path, f"{where}: metric {metric!r} applies to the whole ingest; remove 'class'")
    conditions = entry.get("condition", defaults.get("condition", CLEAN))
    conditions = tuple(conditions) if isinstance(conditions, list) else (conditions,)
    if not conditions or not all(isinstance(c, str) and c for c in conditions):
        _fail(path, f"{where} has condition {entry.get('condition')!r}; use 'clean', 'name:severity' or a list of them")
    parameters = {key: entry[key] for key in spec.extra_keys}
    if "confused_with" in parameters:
        confused = parameters["confused_with"]
        if not isinstance(confused, list) or not confused or not all(isinstance(c, int) and not isinstance(c, bool) for c in confused):
            _fail(path, f"{where}: confused_with must be a non-empty list of ClassIds")
        if class_id in confused:
            _fail(path, f"{where}: confused_with must not contain its own class {class_id}")
        parameters["confused_with"] = tuple(confused)
    return Requirement(
        id=str(entry["id"]),
        title=str(entry["title"]),
        hazard=str(entry["hazard"]),
        metric=metric,
        threshold=float(threshold),
        direction=direction,
        confidence=float(confidence),
        class_id=class_id,
        conditions=conditions,
        rationale=str(entry.get("rationale", "")),
        parameters=parameters,
    )


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


def expand_cases(requirements, num_classes: int) -> list[RequirementCase]:
    """One case per (requirement, class, condition), in file order.

    ``class: each`` expands over the model's ``num_classes`` classes; a requirement that
    names a class the model does not have is an error.
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
        for class_id in classes:
            for condition in requirement.conditions:
                cases.append(RequirementCase(requirement, class_id, condition))
    return cases


def with_metric(cases, metric: str) -> list[RequirementCase]:
    return [case for case in cases if case.requirement.metric == metric]


