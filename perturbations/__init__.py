"""Perturbations of sign images: weather, stickers, common corruptions, each at five severities.

Importing the package registers the bundled perturbations; requirements name them as
``"name:severity"`` (see :class:`safety_harness.plan.conditions.Condition`).
"""

from safety_harness.perturbations import (  # noqa: F401 — registers the bundled perturbations
           corruptions,
           stickers,
           weather,
)
from safety_harness.perturbations.base import SEVERITIES, Perturbation, default_roi, perturb_batch
from safety_harness.perturbations.registry import available, get_perturbation, register
from safety_harness.perturbations.stickers import COLOURS, Sticker, apply_stickers, covered_fraction

__all__ = ["COLOURS", "SEVERITIES", "Perturbation", "Sticker", "apply_stickers", "available", "covered_fraction",
           "default_roi", "get_perturbation", "perturb_batch", "register"]
