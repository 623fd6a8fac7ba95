"""Safety requirements as data: a YAML file a safety engineer edits without touching code.

Each entry names the hazard it guards against, the metric, the class and condition it
applies to, the threshold with its direction and the confidence level. Entries expand
into :class:`RequirementCase` objects, one per pytest item: ``class: each`` gives one
case per model class, a list of conditions one case per condition.

The file's schema is declared below as pydantic models, one per metric family with the keys
that family takes: a key the family does not take, a value out of range or a condition that
lists nothing is refused with one :class:`HarnessInputError` naming the file, the requirement
and the key.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
)

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.core.names import NAME_PATTERN, is_safe_id
from safety_harness.core.safe_yaml import load_yaml
from safety_harness.metrics.calibration import BINNINGS
from safety_harness.metrics.verdicts import DIRECTIONS
from safety_harness.ood import DETECTORS
from safety_harness.plan.conditions import CLEAN, Condition

__all__ = ["CLEAN", "GIVEN_OOD_SETS", "METRICS", "Condition", "Direction", "MetricSpec", "Requirement",
           "RequirementCase", "expand_cases", "load_requirements", "register_metric_family", "with_metric"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric needs from a requirement entry (its own keys are its schema model's fields).

    ``class_key``: ``required`` (a ClassId or ``each``), ``optional`` or ``forbidden``;
    ``conditions``: ``any``, ``perturbed`` (a comparison with clean) or ``clean`` (the metric perturbs itself).
    """

    class_key: str
    needs_labels: bool = True
    conditions: str = "any"
    #: a list-valued key that expands into one case per element (e.g. one per OOD set)
    variants_key: str | None = None
    #: judged as a rate on an exact Clopper–Pearson bound (False: a bootstrap or distance bound, a search)
    binomial: bool = True
    #: how a metric that is not a rate is bounded (a rate: on its Clopper–Pearson bound over groups), as the
    #: sample-size plan (``--plan``) names it
    bound: str | None = None
    #: compares the model under test with the baseline model (``--baseline-model``); not applicable without one
    paired: bool = False


#: The metrics a requirement may name; each has a safety test that evaluates it.
METRICS = {
    "recall": MetricSpec("required"),
    "precision": MetricSpec("required"),
    "accuracy": MetricSpec("forbidden"),
    "confusion_rate": MetricSpec("required"),
    "flip_rate": MetricSpec("optional", conditions="perturbed"),
    "accuracy_drop": MetricSpec("forbidden", conditions="perturbed"),
    # a search, not a rate: a counterexample found within the budget fails, none found passes
    "counterexample": MetricSpec("required", conditions="clean", binomial=False,
                                 bound="a search: sticker placements within the budget (hypothesis)"),
    "ece": MetricSpec("optional", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
    "mce": MetricSpec("forbidden", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
    "alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets"),
    "false_alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
    "auroc": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets", binomial=False,
                        bound="DeLong's normal bound (exact over disjoint pairs at perfect separation)"),
    "drift": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                        bound="Kolmogorov–Smirnov distance plus the Dvoretzky–Kiefer–Wolfowitz margins"),
    # the classifier and its runtime monitor as one system (safety_harness/metrics/monitor.py)
    "silent_failure_rate": MetricSpec("required"),
    "coverage": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
    # share of recognised signs whose explanation peaks on the sign (safety_harness/metrics/relevance.py)
    "relevance_on_sign": MetricSpec("required", conditions="clean"),
    # a learned sticker shortcut: the largest share of other classes' stickered signs one class draws
    # (safety_harness/metrics/attraction.py); the run stickers the signs itself. Not one binomial count but
    # Bonferroni-corrected bounds over every class and stickered set, so outside Holm's joint confidence
    "sticker_attraction": MetricSpec("forbidden", conditions="clean", binomial=False,
                                     bound="Bonferroni-corrected Clopper–Pearson bounds over every class and "
                                           "stickered set"),
    # a search, not a rate: a class whose reverse-engineered trigger is far smaller than the median class's fails
    # (Neural Cleanse, safety_harness/backdoor/neural_cleanse.py; the rule: safety_harness/backdoor/flagging.py)
    "trigger_anomaly": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                                  bound="a search: Neural Cleanse's smallest class trigger against the median"),
    # paired with the baseline model (--baseline-model) on the same images (safety_harness/metrics/paired.py):
    # the candidate's recall of a class (accuracy without one) is not worse by more than a margin, on an exact
    # bound of the paired difference; and the share of images on which both predict the same class
    "regression": MetricSpec("optional", paired=True, binomial=False,
                             bound="upper bound of the paired difference: losses' upper minus gains' lower "
                                   "Clopper–Pearson bound (Bonferroni)"),
    "agreement": MetricSpec("optional", needs_labels=False, paired=True),
    # share of the ingest's groups with a near-duplicate in the reference or training data
    # (safety_harness/ingest/similarity_groups.py): the ingest is not development data
    "leakage_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
    # Clever-Hans discovery in --training-data (safety_harness/metrics/spray.py): the share of a class's sampled
    # training images in a SpRAy cluster whose relevance concentrates on a compact patch; a discovery, judged on
    # the flagged clusters' shares only
    "shortcut_cluster": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                                   bound="Clopper–Pearson lower bound of each flagged cluster's share of its class's "
                                         "sample, Bonferroni over the flagged classes"),
}

#: in ``ood_sets``, stands for every OOD set the user gave with ``--ood-set``
GIVEN_OOD_SETS = "given"

Direction = Literal[DIRECTIONS]
_FIX = "Edit the requirements file; see README.md, section 'Requirements reference'."
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

Independence = Literal["groups", "images"]
Threshold = Annotated[float, Field(ge=0, le=1)]
Confidence = Annotated[float, Field(ge=0.5, lt=1)]
ClassId = Annotated[int, Field(ge=0)]
OodSetName = Annotated[str, Field(pattern=rf"^{NAME_PATTERN}$")]


def _class_spec(value):
    if value is None or value == "each" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"must be a ClassId (an integer >= 0) or 'each', not {shown(value)}")


def _conditions(value) -> tuple[Condition, ...]:
    texts = value if isinstance(value, list) else [value]
    if not texts:
        raise ValueError("lists no condition; use 'clean', 'name:severity' or a list of them")
    conditions = [condition for text in texts for condition in Condition.expand(text)]
    repeated = sorted({str(c) for c in conditions if conditions.count(c) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return tuple(conditions)


Conditions = Annotated[tuple[Condition, ...], PlainValidator(_conditions)]


class _Defaults(BaseModel):
    """``defaults:``, values for entries that do not set them."""

    model_config = _STRICT
    confidence: Confidence = 0.95
    condition: Conditions = (CLEAN,)
    independence: Independence = "groups"


class _Entry(BaseModel):
    """The keys every requirement takes."""

    model_config = _STRICT
    metric: str  # declared first so the validators below see it; each family narrows it to its metrics
    id: str
    title: str
    hazard: str
    class_: Annotated[int | str | None, PlainValidator(_class_spec)] = Field(None, alias="class",
                                                                              validate_default=True)
    condition: Conditions = Field(CLEAN.name, validate_default=True)
    confidence: Confidence = 0.95
    #: ``groups``: a rate is bounded over the ingest's groups of dependent images; ``images``: every image is
    #: independent (an ingest known to be i.i.d.)
    independence: Independence = "groups"
    rationale: str = ""

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value):
        if not is_safe_id(value):
            raise ValueError(f"{shown(value)} may hold only letters, digits and _ . : @ - "
                             "(ids become pytest ids and HTML)")
        return value

    @field_validator("class_")
    @classmethod
    def _class_for_metric(cls, value, info):
        metric = info.data.get("metric")
        if value is None and METRICS[metric].class_key == "required":
            raise ValueError(f"metric {metric!r} needs 'class', a ClassId or 'each'")
        if value is not None and METRICS[metric].class_key == "forbidden":
            raise ValueError(f"metric {metric!r} applies to the whole ingest; remove 'class'")
        return value

    @field_validator("condition")
    @classmethod
    def _conditions_for_metric(cls, value, info):
        metric = info.data.get("metric")
        if METRICS[metric].conditions == "perturbed" and CLEAN in value:
            raise ValueError(f"metric {metric!r} compares a perturbed condition with clean; "
                             "list only perturbed ones")
        if METRICS[metric].conditions == "clean" and value != (CLEAN,):
            raise ValueError(f"metric {metric!r} searches perturbations itself; its condition must be clean")
        return value


class _Thresholded(_Entry):
    threshold: Threshold
    direction: Direction


class _Classification(_Thresholded):
    metric: Literal["recall", "precision", "accuracy", "flip_rate", "accuracy_drop"]


class _Confusion(_Thresholded):
    metric: Literal["confusion_rate"]
    #: the classes a sign of ``class`` must not be taken for
    confused_with: Annotated[list[ClassId], Field(min_length=1)]

    @field_validator("confused_with")
    @classmethod
    def _not_its_own_class(cls, value, info):
        own = info.data.get("class_")
        if own in value:
            raise ValueError(f"must not contain the requirement's own class {own}")
        return value


class _Counterexample(_Entry):
    metric: Literal["counterexample"]
    #: the largest share of the sign's box a sticker placement may cover
    budget: Annotated[float, Field(gt=0, le=1)]
    max_examples: Annotated[int, Field(gt=0)]


class _Calibration(_Thresholded):
    metric: Literal["ece", "mce"]
    bins: Annotated[int, Field(ge=1, le=100)] = 15
    binning: Literal[BINNINGS] = "equal_width"


Detector = Literal[tuple(DETECTORS)]
TargetFalseAlarmRate = Annotated[float, Field(gt=0, lt=1)]


def _distinct_ood_sets(value: list) -> list:
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return value


OodSets = Annotated[list[OodSetName], Field(min_length=1), AfterValidator(_distinct_ood_sets)]


class _Alarm(_Thresholded):
    metric: Literal["alarm_rate"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05
    ood_sets: OodSets


class _Separation(_Thresholded):
    metric: Literal["auroc"]
    detector: Detector
    ood_sets: OodSets


class _FittedAlarm(_Thresholded):
    metric: Literal["false_alarm_rate", "drift"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


class _Monitored(_Thresholded):
    """The classifier with its runtime monitor: ``detector`` alarmed at ``target_false_alarm_rate``."""

    metric: Literal["silent_failure_rate", "coverage"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


class _Relevance(_Thresholded):
    """Recognised signs of ``class`` whose explanation's peak lies inside the sign's box (the pointing game)."""

    metric: Literal["relevance_on_sign"]


class _Attraction(_Thresholded):
    """No class draws more than ``threshold`` of the stickered signs of other classes (a learned sticker shortcut)."""

    metric: Literal["sticker_attraction"]
    direction: Literal["<="]  # a ceiling: attraction is what the requirement limits


class _TriggerScan(_Entry):
    """Fails when the smallest class trigger's norm is at most ``max_norm_ratio`` of the median class trigger's and
    at most ``max_next_ratio`` of the second smallest (the calibrated rule of safety_harness/backdoor/flagging.py)."""

    metric: Literal["trigger_anomaly"]
    max_norm_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.4
    max_next_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.7


class _Regression(_Thresholded):
    """The candidate's recall of ``class`` (accuracy without one) is below the baseline's by at most ``threshold``
    (the margin on the paired difference, baseline's rate minus candidate's)."""

    metric: Literal["regression"]
    direction: Literal["<="]  # a ceiling on how much worse the candidate may be


class _Agreement(_Thresholded):
    """The candidate and the baseline predict the same class on at least ``threshold`` of the images."""

    metric: Literal["agreement"]
    direction: Literal[">="]  # a floor: agreement is what the requirement asks for


class _Leakage(_Thresholded):
    """At most ``threshold`` of the ingest's groups have a near-duplicate in ``--reference`` or ``--training-data``."""

    metric: Literal["leakage_rate"]
    direction: Literal["<="]  # a ceiling: leakage is what the requirement limits


class _ShortcutCluster(_Thresholded):
    """No class of the training data has a SpRAy cluster holding more than ``threshold`` of its sampled images whose
    relevance concentrates by at least ``min_concentration_excess`` more than the rest's (safety_harness/metrics/spray.py)."""

    metric: Literal["shortcut_cluster"]
    direction: Literal["<="]  # a ceiling: the share a shortcut cluster may hold
    min_concentration_excess: Annotated[float, Field(gt=0, le=1)] = 0.10


_FAMILIES = [_Classification, _Confusion, _Counterexample, _Calibration, _Alarm, _Separation, _FittedAlarm,
             _Monitored, _Relevance, _Attraction, _TriggerScan, _Regression, _Agreement, _Leakage,
             _ShortcutCluster]
#: the keys every thresholded requirement takes; a family's others are its parameters
_BASE_KEYS = set(_Thresholded.model_fields)


@cache
def _entry_schema() -> TypeAdapter:
    """The schema of one entry: the union of the metric families, told apart by ``metric`` (rebuilt when a family
    is registered)."""
    return TypeAdapter(Annotated[Union[tuple(_FAMILIES)], Field(discriminator="metric")])  # noqa: UP007 — a tuple


def _keys_of(metric: str) -> list[str]:
    """The keys ``metric``'s entries take, for messages."""
    (family,) = [family for family in _FAMILIES if metric in get_args(family.model_fields["metric"].annotation)]
    return [info.alias or name for name, info in family.model_fields.items()]


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

    Registering the same family again with the same declaration does nothing (a conftest.py imported twice);
    a bundled metric's name or another declaration of a registered one is refused with ``ValueError``.
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
        if _REGISTERED.get(metric) == declaration:
            return spec
        raise ValueError(f"metric {metric!r} is already "
                         + ("registered with another declaration" if metric in _REGISTERED else "a bundled metric"))
    family = create_model(f"_Registered_{metric}", __base__=_Thresholded, metric=(Literal[metric], ...), **fields)
    METRICS[metric] = spec
    _REGISTERED[metric] = declaration
    _FAMILIES.append(family)
    _entry_schema.cache_clear()
    return spec


#: the declarations of the registered families, to tell a repeated registration from a conflicting one
_REGISTERED: dict[str, tuple] = {}


class _Document(BaseModel):
    model_config = _STRICT
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
    def _from_entry(cls, entry: _Entry) -> "Requirement":
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
