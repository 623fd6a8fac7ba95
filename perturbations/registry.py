"""The perturbation registry: requirements name a condition as ``"name:severity"``.

A team adds its own perturbation with one small class::

    @register
    class Dirt(Perturbation):
        name = "dirt"
        description = "brown specks on the lens"
        severity_table = tuple({"density": d} for d in (0.01, 0.02, 0.04, 0.08, 0.16))

        def _apply(self, image, parameters, rng, roi):
            ...
"""

from perturbations.base import SEVERITIES, Perturbation
from safety_harness.core.errors import HarnessInputError

_REGISTRY: dict[str, Perturbation] = {}


def register(cls):
    """Class decorator: make a :class:`Perturbation` subclass available by its ``name``."""
    if not cls.name or ":" in cls.name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty string without ':'")
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


def parse_condition(condition: str) -> tuple[Perturbation, int]:
    """``"rain:3"`` -> (the rain perturbation, 3)."""
    name, _, severity = condition.partition(":")
    if not severity.isdigit() or int(severity) not in SEVERITIES:
        raise HarnessInputError(f"Condition {condition!r} is not 'name:severity' with a severity in 1..5",
                                "Write conditions as 'clean' or e.g. 'rain:3'.")
    return get_perturbation(name), int(severity)
