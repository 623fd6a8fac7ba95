"""The keys every requirement entry takes, as pydantic models a family's schema extends.

A family's schema (:attr:`~safety_harness.families.registry.MetricFamily.schema`) subclasses
:class:`Entry` (a requirement judged by its own rule, e.g. a search) or :class:`ThresholdedEntry` (a
``threshold`` and its ``direction``), narrows ``metric`` to a ``Literal`` of its metrics and adds its
parameters as fields; the requirements file is read strictly against the union of the registered schemas
(safety_harness/plan/requirements.py).
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator

from safety_harness.core.errors import shown
from safety_harness.core.names import is_safe_id
from safety_harness.families.registry import METRICS
from safety_harness.metrics.verdicts import DIRECTIONS
from safety_harness.plan.conditions import CLEAN, Condition

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

Direction = Literal[DIRECTIONS]
Independence = Literal["groups", "images"]
Threshold = Annotated[float, Field(ge=0, le=1)]
Confidence = Annotated[float, Field(ge=0.5, lt=1)]
ClassId = Annotated[int, Field(ge=0)]


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


class Entry(BaseModel):
    """The keys every requirement takes."""

    model_config = STRICT
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


class ThresholdedEntry(Entry):
    """A requirement judged against ``threshold`` in ``direction`` (``>=`` a floor, ``<=`` a ceiling)."""

    threshold: Threshold
    direction: Direction
