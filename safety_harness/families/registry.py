"""The registry of metric families: every metric a requirements file may name, with what reads it.

A :class:`MetricFamily` holds in one object what the rest of the harness reads of a family: its parameter
schema (a pydantic model of its requirement entries), what each of its metrics needs of the requirements
file and of the run (:class:`MetricSpec`, and the perturbations its cases apply), its judging rule and how
the report states its requirement. The requirements file's schema (safety_harness/plan/requirements.py),
the pytest parametrisation (fixtures/plugin.py), the run plan (safety_harness/plan/plan.py), the recorder
(fixtures/evidence.py) and the report (safety_harness/report/sections.py) read it here, so that a family is
added by registering one object (:func:`register`; a user's own through
:func:`safety_harness.register_metric_family`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import get_args


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


@dataclass(frozen=True)
class MetricFamily:
    """One metric family: the metrics it judges and everything the harness reads of them."""

    #: the pydantic model of the family's requirement entries: its ``metric`` field is a ``Literal`` of the
    #: family's metrics, its fields beyond the keys every requirement takes are the family's parameters
    schema: type
    #: each metric of the family with what it needs of the requirements file and of the run
    specs: Mapping[str, MetricSpec]
    #: perturbations the family's cases apply beyond their conditions (a sticker search pastes stickers), for
    #: the run's contact sheets and the report's perturbations
    perturbations: tuple[str, ...] = ()
    #: the judging rule: a function of the case and what its safety test measured, giving the case's
    #: :class:`~safety_harness.evidence.results.RequirementResult` for the recorder to record; None: a rate,
    #: judged by the recorder's ``judge_rate`` on its exact bound over groups
    judge: Callable | None = None
    #: the requirement as the report states it (from a case's ``RequirementEvidence``); None: ``direction
    #: threshold`` (e.g. ``>= 0.99``)
    requirement_text: Callable | None = None
    #: for a user's registration: its declaration, to tell a repeated registration from a conflicting one
    declaration: tuple | None = field(default=None, compare=False)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def __post_init__(self):
        named = get_args(self.schema.model_fields["metric"].annotation)
        if set(named) != set(self.specs):
            raise ValueError(f"family {self.schema.__name__}: its schema names the metrics {', '.join(named)} but "
                             f"its specs {', '.join(self.specs)}")


#: every registered family, in registration order
FAMILIES: list[MetricFamily] = []
#: every metric a requirement may name, with its spec, in registration order (each has a safety test)
METRICS: dict[str, MetricSpec] = {}
_FAMILY_OF: dict[str, MetricFamily] = {}
#: callbacks run after a registration (the requirements schema is rebuilt)
_LISTENERS: list[Callable[[], None]] = []


def register(family: MetricFamily) -> MetricFamily:
    """Add ``family``; a metric another family already judges is refused with ``ValueError``."""
    taken = sorted(set(family.specs) & set(METRICS))
    if taken:
        raise ValueError(f"metric {taken[0]!r} is already registered")
    FAMILIES.append(family)
    METRICS.update(family.specs)
    _FAMILY_OF.update(dict.fromkeys(family.specs, family))
    for listener in _LISTENERS:
        listener()
    return family


def family_of(metric: str) -> MetricFamily:
    """The family that judges ``metric``."""
    return _FAMILY_OF[metric]


def on_registration(listener: Callable[[], None]):
    """Call ``listener`` after every registration from now on."""
    _LISTENERS.append(listener)
