"""The perturbation registry: requirements name a condition as ``"name:severity"``, and the run
looks the perturbation up by the condition's name (:class:`safety_harness.plan.conditions.Condition`).

A team adds its own perturbation with one small class::

    @register
    class Dirt(Perturbation):
        name = "dirt"
        description = "brown specks on the lens"
        severity_table = tuple({"density": d} for d in (0.01, 0.02, 0.04, 0.08, 0.16))

        def _apply(self, image, parameters, rng, roi):
            ...
"""

from safety_harness.core.errors import HarnessInputError
from safety_harness.perturbations.base import SEVERITIES, Perturbation
from safety_harness.plan.conditions import Condition

_REGISTRY: dict[str, Perturbation] = {}


def register(cls):
    """Class decorator: make a :class:`Perturbation` subclass available by its ``name``."""
    try:
        Condition.parse(f"{cls.name}:1")
    except (ValueError, TypeError):
        raise ValueError(f"{cls.__name__}.name must be letters, digits, '_', '.' or '-', "
                         "so that requirements can name it in a condition") from None
    if len(cls.severity_table) != len(SEVERITIES):
        raise ValueError(f"{cls.__name__}.severity_table must define {len(SEVERITIES)} severities")
    _REGISTRY[cls.name] = cls()
    return cls


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_perturbation(name: str) -> Perturbation:
    if name not in _REGISTRY:
        raise HarnessInputError(f"Unknown perturbation {name!r}",
                                f"Use one of: {', '.join(available())}, or register your own (perturbations/registry.py).")
    return _REGISTRY[name]
