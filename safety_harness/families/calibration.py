"""Calibration: expected and maximum calibration error (safety_harness/metrics/calibration.py), judged on a seeded
bootstrap bound that resamples whole groups of dependent images (safety_tests/test_uncertainty.py)."""

from typing import Annotated, Literal

from pydantic import Field

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics.calibration import BINNINGS


class CalibrationRequirement(ThresholdedEntry):
    metric: Literal["ece", "mce"]
    bins: Annotated[int, Field(ge=1, le=100)] = 15
    binning: Literal[BINNINGS] = "equal_width"


CALIBRATION = register(MetricFamily(CalibrationRequirement, {
    "ece": MetricSpec("optional", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
    "mce": MetricSpec("forbidden", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
}))
