"""Safety requirements as data: a YAML file a safety engineer edits without touching code.

Each entry names the hazard it guards against, the metric, the class and condition it
applies to, the threshold with its direction and the confidence level. Entries expand
into :class:`RequirementCase` objects, one per pytest item: ``class: each`` gives one
case per model class, a list of conditions one case per condition.

The file's schema is the union of the metric families' pydantic models (safety_harness/families), each
with the keys its family takes: a key the family does not take, a value out of range or a condition that
lists nothing is refused with one :class:`HarnessInputError` naming the file, the requirement
and the key.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.core.safe_yaml import load_yaml
from safety_harness.families.bundled import FAMILIES, METRICS, family_of
from safety_harness.families.registry import MetricFamily, MetricSpec, on_registration, register
from safety_harness.families.schema import (
    STRICT,
    Conditions,
    Confidence,
    Direction,
    Entry,
    Independence,
    ThresholdedEntry,
)
from safety_harness.ood import GIVEN_OOD_SETS
from safety_harness.plan.conditions import CLEAN, Condition

__all__ = ["CLEAN", "GIVEN_OOD_SETS", "METRICS", "Condition", "Direction", "MetricSpec", "Requirement",
           "RequirementCase", "expand_cases", "load_requirements", "register_metric_family", "with_metric"]


_FIX = "Edit the requirements file; see README.md, section 'Requirements reference'."


class _Defaults(BaseModel):
    """``defaults:``, values for entries that do not set them."""

    model_config = STRICT
    confidence: Confidence = 0.95
    condition: Conditions = (CLEAN,)
    independence: Independence = "groups"


#: the keys every thresholded requirement takes; a family's others are its parameters
_BASE_KEYS = set(ThresholdedEntry.model_fields)


@cache
def _entry_schema() -> TypeAdapter:
    """The schema of one entry: the union of the metric families, told apart by ``metric`` (rebuilt when a family
    is registered)."""
    schemas = tuple(family.schema for family in FAMILIES)
    return TypeAdapter(Annotated[Union[schemas], Field(discriminator="metric")])  # noqa: UP007 — a tuple


on_registration(_entry_schema.cache_clear)


def _keys_of(metric: str) -> list[str]:
    """The keys ``metric``'s entries take, for messages."""
    return [info.alias or name for name, info in family_of(metric).schema.model_fields.items()]


def register_metric_family(metric: str, *, parameters: dict | None = None, class_key: str = "optional",
                           rate: bool = True, bound: str | None = None, needs_labels: bool = True,
                           conditions: str = "any") -> MetricSpec:
    """Declare a metric family of one's own, so that a requirements file may name ``metric`` and a test marked
    ``@pytest.mark.requirement_metric(metric)`` judges its cases (README, "In your own repository").

    Its entries take the keys every requirement takes (``id``, ``title``, ``hazard``, ``class``, ``condition``,
    ``confidence``, ``independence``, ``rationale``), ``threshold`` and ``direction``, and ``parameters``: a
    mapping of each key of its own to its type, or to ``(type, default)`` (pydantic field definitions, e.g.
    ``{"min_confidence": (float, 0.9)}``), checked strictly like the bundled families' keys and handed to the
    test as ``requirement_case.requirement.parameters``.

    ``class_key``: whether ``class`` is ``required`` (a ClassId or ``each``), ``optional`` or ``forbidden``;
    ``rate``: judged as a rate (``evidence.judge_rate``) on its exact bound, counted in the gate's joint
    confidence; otherwise judged on a bound the test computes (``evidence.judge_bound``), which ``bound``
    describes for ``--plan``; ``needs_labels``: not applicable on an unlabelled ingest; ``conditions``: ``any``,
    ``perturbed`` (only perturbed conditions) or ``clean``.

    The family is registered as a :class:`~safety_harness.families.registry.MetricFamily` beside the bundled ones
    (safety_harness/families), whose schema is ``ThresholdedEntry`` with ``parameters``. Registering the same
    family again with the same declaration does nothing (a conftest.py imported twice); a bundled metric's name
    or another declaration of a registered one is refused with ``ValueError``.
    """
    if not (isinstance(metric, str) and metric.isidentifier()):
        raise ValueError(f"a metric family's name is a Python identifier, not {shown(metric)}")
    for name, value, allowed in (("class_key", class_key, ("required", "optional", "forbidden")),
                                 ("conditions", conditions, ("any", "perturbed", "clean"))):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {shown(value)}")
    if not rate and not bound:
        raise ValueError(f"metric {metric!r} is not a rate: say how it is bounded (bound='...'), for --plan")
    fields = {key: definition if isinstance(definition, tuple) else (definition, ...)
              for key, definition in (parameters or {}).items()}
    clashing = sorted(set(fields) & (_BASE_KEYS | {"class"}))
    if clashing:
        raise ValueError(f"metric {metric!r}: {', '.join(clashing)} is a key every requirement takes; "
                         "name the parameter otherwise")
    spec = MetricSpec(class_key, needs_labels=needs_labels, conditions=conditions, binomial=rate,
                      bound=None if rate else bound)
    declaration = (spec, {key: repr(definition) for key, definition in fields.items()})
    if metric in METRICS:
        if family_of(metric).declaration == declaration:
            return spec
        raise ValueError(f"metric {metric!r} is already "
                         + ("registered with another declaration" if family_of(metric).declaration
                            else "a bundled metric"))
    schema = create_model(f"_Registered_{metric}", __base__=ThresholdedEntry, metric=(Literal[metric], ...), **fields)
    register(MetricFamily(schema, {metric: spec}, declaration=declaration))
    return spec


def registered_by_users() -> list[str]:
    """The metrics registered with :func:`register_metric_family` (in this process)."""
    return [metric for family in FAMILIES if family.declaration for metric in family.metrics]


class _Document(BaseModel):
    model_config = STRICT
    version: Literal[1]
    defaults: _Defaults = _Defaults()
    requirements: Annotated[list[Any], Field(min_length=1)]


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
    conditions: tuple[Condition, ...] = (CLEAN,)
    rationale: str = ""
    #: the metric family's own keys (e.g. ``bins``, ``detector``), lists as tuples
    parameters: dict = field(default_factory=dict)
    #: ``groups`` (a rate is bounded over groups of dependent images) or ``images`` (every image independent)
    independence: str = "groups"

    @classmethod
    def _from_entry(cls, entry: Entry) -> "Requirement":
        parameters = {key: tuple(value) if isinstance(value, list) else value
                      for key, value in ((key, getattr(entry, key)) for key in type(entry).model_fields)
                      if key not in _BASE_KEYS}
        threshold = getattr(entry, "threshold", None)
        return cls(id=entry.id, title=entry.title, hazard=entry.hazard, metric=entry.metric,
                   threshold=None if threshold is None else float(threshold),
                   direction=getattr(entry, "direction", None), confidence=float(entry.confidence),
                   class_id=entry.class_, conditions=entry.condition, rationale=entry.rationale,
                   parameters=parameters, independence=entry.independence)


@dataclass(frozen=True)
class RequirementCase:
    """One pytest item: a requirement applied to one class and one condition."""

    requirement: Requirement
    class_id: int | None
    condition: Condition
    variant: str | None = None

    @property
    def case_id(self) -> str:
        case_id = self.requirement.id
        if self.requirement.class_id == "each":
            case_id += f"-class{self.class_id:02d}"
        if self.variant is not None:
            case_id += f"-{self.variant}"
        if self.names_condition:
            case_id += f"@{self.condition}"
        return case_id

    @property
    def names_condition(self) -> bool:
        """Whether the case id ends with the condition: a requirement of one condition, clean, omits it."""
        return len(self.requirement.conditions) > 1 or self.condition != CLEAN


def _problem(error: dict, metric) -> str:
    """One pydantic error as a sentence about the key it concerns."""
    kind = error["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        if metric is None:  # a key of the document or of its defaults
            parent = _Defaults if error["loc"][0] == "defaults" else _Document
            return f"is not a known key; known: {', '.join(parent.model_fields)}"
        return f"is not a key of metric {metric!r}; its keys: {', '.join(_keys_of(metric))}"
    if kind == "union_tag_invalid":
        return f"unknown metric {shown(error['input'].get('metric'))}; known metrics: {', '.join(METRICS)}"
    if kind == "union_tag_not_found":
        return f"is required but missing; known metrics: {', '.join(METRICS)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {shown(error['input'])})"


def _describe(error: dict, entries: list | None = None, index: int | None = None) -> str:
    """``requirement 'SR-X', 'threshold': ...`` for an entry's error, ``'version': ...`` for the document's."""
    loc = list(error["loc"])
    metric = None
    where = ""
    if entries is not None:
        entry = entries[index]
        metric = entry.get("metric") if isinstance(entry, dict) else None
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"requirement {shown(entry_id)}" if isinstance(entry_id, str) else f"entry {index + 1}"
        # a union error concerns the metric; any other starts with the metric tag the union chose
        loc = ["metric"] if error["type"].startswith("union_tag") else loc[1:]
    key = ".".join("class" if part == "class_" else str(part) for part in loc)
    parts = [where] if where else []
    if key:
        parts.append(f"'{key}'")
    return f"{', '.join(parts) or 'the document'}: {_problem(error, metric)}"


def _refuse(path, problems: list[str]):
    listed = problems[0] if len(problems) == 1 else "\n    " + "\n    ".join(problems)
    raise HarnessInputError(f"Requirements file {path}: {listed}", _FIX)


def load_requirements(path) -> tuple[Requirement, ...]:
    """Read and validate a requirements file (see :mod:`safety_harness.core.safe_yaml` for the reading)."""
    path = Path(path)
    if not path.is_file():
        raise HarnessInputError(
            f"Requirements file {path} does not exist",
            "Pass --requirements PATH to an existing YAML file, or omit it to use the bundled safety_tests/requirements.yaml.",
        )
    raw = load_yaml(path, "Requirements file")
    if not isinstance(raw, dict):
        _refuse(path, [f"the document is not a mapping with 'version: 1' and a 'requirements' list "
                       f"(got {shown(raw)})"])
    try:
        document = _Document.model_validate(raw)
    except ValidationError as error:
        _refuse(path, [_describe(e) for e in error.errors()])
    defaults = {key: raw["defaults"][key] for key in document.defaults.model_fields_set}
    problems, requirements = [], []
    for index, entry in enumerate(document.requirements):
        try:
            requirements.append(Requirement._from_entry(_entry_schema().validate_python(
                {**defaults, **entry} if isinstance(entry, dict) else entry)))
        except ValidationError as error:
            problems += [_describe(e, document.requirements, index) for e in error.errors()]
    if problems:
        _refuse(path, problems)
    first = {}
    for index, requirement in enumerate(requirements):
        if requirement.id in first:
            _refuse(path, [f"requirement {shown(requirement.id)}, 'id': used by entries {first[requirement.id] + 1} "
                           f"and {index + 1}; ids must be unique"])
        first[requirement.id] = index
    return tuple(requirements)


def expand_cases(requirements, num_classes: int, given_ood_sets=()) -> list[RequirementCase]:
    """One case per (requirement, class, condition, variant), in file order.

    ``class: each`` expands over the model's ``num_classes`` classes; a requirement that
    names a class (in ``class`` or ``confused_with``) the model does not have is an error.
    ``ood_sets: [given]`` expands over the names of ``given_ood_sets`` (a single ``given``
    case when there are none, judged not applicable); a given set the requirement also names is one case.

    Case ids are pytest ids, JUnit names and ``-k`` targets: two requirements whose cases would share
    one (``R`` with ``class: each`` gives ``R-class14``, which a requirement named ``R-class14`` also
    has) are refused, naming both.
    """
    cases = []
    for requirement in requirements:
        named = [("class", requirement.class_id)] if isinstance(requirement.class_id, int) else []
        named += [("confused_with", c) for c in requirement.parameters.get("confused_with", ())]
        for key, class_id in named:
            if class_id >= num_classes:
                raise HarnessInputError(
                    f"Requirement {requirement.id}, '{key}': names class {class_id}, "
                    f"but the model has {num_classes} classes (0..{num_classes - 1})",
                    f"Fix the requirement's '{key}', or the model card's 'classes'.",
                )
        classes = range(num_classes) if requirement.class_id == "each" else [requirement.class_id]
        key = METRICS[requirement.metric].variants_key
        variants = requirement.parameters[key] if key else (None,)
        if given_ood_sets and key == "ood_sets":
            variants = list(dict.fromkeys(name for variant in variants
                                          for name in (given_ood_sets if variant == GIVEN_OOD_SETS else [variant])))
        for class_id in classes:
            for condition in requirement.conditions:
                cases.extend(RequirementCase(requirement, class_id, condition, variant) for variant in variants)
    _check_distinct_case_ids(cases)
    return cases


def _check_distinct_case_ids(cases):
    first = {}
    for case in cases:
        other = first.setdefault(case.case_id, case)
        if other is not case:
            raise HarnessInputError(
                f"Requirements {_origin(other)} and {_origin(case)} both give the case id {case.case_id!r}: "
                "pytest, JUnit and -k could not tell their results apart",
                "Rename one of them in the requirements file: an id must not be another requirement's id followed "
                "by what its cases add (-classNN for 'class: each', -SET for 'ood_sets', @CONDITION).",
            )


def _origin(case: RequirementCase) -> str:
    """The requirement a case comes from, with the parts of its id the expansion added."""
    requirement = case.requirement
    parts = [f"class {case.class_id} of 'class: each'"] if requirement.class_id == "each" else []
    parts += [] if case.variant is None else [f"OOD set {case.variant!r}"]
    parts += [f"condition {str(case.condition)!r}"] if case.names_condition else []
    return f"{requirement.id!r}" + (f" ({', '.join(parts)})" if parts else "")


def with_metric(cases, metric: str) -> list[RequirementCase]:
    return [case for case in cases if case.requirement.metric == metric]
