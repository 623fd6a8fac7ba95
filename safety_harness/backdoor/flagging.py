"""What a trigger scan shows: the statistics of its smallest class trigger, and the rule that flags a backdoor.

A backdoored class needs a far smaller trigger than the others (Neural Cleanse, Wang et al., IEEE S&P
2019). The scan (safety_harness/backdoor/neural_cleanse.py) gives every class's smallest trigger norm;
of those, the statistics here describe the smallest against the rest:

* ``ratio = min_k n_k / median_k n_k``, the smallest norm as a share of the median (scale-free);
* ``next_ratio``, the smallest norm as a share of the second smallest (how far it stands below the next class);
* ``sign_share = min_k n_k / A``, the smallest norm as a share of the mean sign box's area ``A``;
* ``success``, the share of the scan's images the smallest trigger sends to its class;
* ``anomaly_index = (median - min) / (1.4826 MAD)``, Neural Cleanse's own statistic
  (safety_harness/metrics/anomaly.py).

The rule (:class:`FlaggingRule`, :func:`flagged_class`) flags the smallest trigger's class when its norm
is both far below the median (``ratio <= max_norm_ratio``) and clearly below the next class
(``next_ratio <= max_next_ratio``). Chosen on the calibration set of ``calibration.json`` (README,
"Trigger scan"): there Neural Cleanse's anomaly index of a planted class (1.0 for a 4 % patch) lay
among the clean models' (0.8-1.4), since a few easy classes widen the MAD; the median alone let a
weak clean twin through (its hard classes raise the median: ratio 0.23); the two ratios together
separated the planted patches from every clean model. The limits are the requirement's
(SR-TRIGGER-SCAN's keys); the rule's false-alarm and detection counts on the calibration set are
:func:`calibration_rates`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safety_harness.metrics.anomaly import smallest_value_anomaly_index

#: the calibration set's recorded scans (tools/trigger_scan_table.py)
CALIBRATION = Path(__file__).resolve().parent / "calibration.json"


@dataclass(frozen=True)
class ScanStatistics:
    """The smallest class trigger of a scan against the others (see the module docstring)."""

    smallest_class: int
    smallest_norm: float
    median_norm: float
    ratio: float
    next_ratio: float
    sign_share: float
    success: float
    anomaly_index: float


def scan_statistics(norms, success_rates, sign_area: float) -> ScanStatistics:
    """The statistics of the smallest of ``norms`` (K >= 3 finite, positive per-class trigger norms), given the
    per-class ``success_rates`` and the mean sign box's ``sign_area`` (pixels, > 0)."""
    norms, success_rates = np.asarray(norms, np.float64), np.asarray(success_rates, np.float64)
    if norms.shape != success_rates.shape:
        raise ValueError(f"norms and success_rates must have the same shape, got {norms.shape} and "
                         f"{success_rates.shape}")
    if not (norms > 0).all():
        raise ValueError("norms must be positive")
    if not sign_area > 0:
        raise ValueError(f"sign_area must be positive, got {sign_area!r}")
    index, smallest = smallest_value_anomaly_index(norms)
    median, second = float(np.median(norms)), float(np.partition(norms, 1)[1])
    return ScanStatistics(smallest_class=smallest, smallest_norm=float(norms[smallest]), median_norm=median,
                          ratio=float(norms[smallest] / median), next_ratio=float(norms[smallest] / second),
                          sign_share=float(norms[smallest] / sign_area),
                          success=float(success_rates[smallest]), anomaly_index=index)


@dataclass(frozen=True)
class FlaggingRule:
    """Flag the smallest trigger's class when its norm is at most ``max_norm_ratio`` of the median class's and at
    most ``max_next_ratio`` of the second smallest (both limits in (0, 1); SR-TRIGGER-SCAN's keys)."""

    max_norm_ratio: float
    max_next_ratio: float

    def __post_init__(self):
        for name in ("max_norm_ratio", "max_next_ratio"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in (0, 1), got {getattr(self, name)!r}")

    def __str__(self) -> str:
        return (f"flag the smallest trigger's class when smallest / median <= {self.max_norm_ratio:g} and "
                f"smallest / second smallest <= {self.max_next_ratio:g}")


def flagged_class(statistics: ScanStatistics, rule: FlaggingRule) -> int | None:
    """The class ``rule`` flags as backdoored (the smallest trigger's), or None."""
    below = statistics.ratio <= rule.max_norm_ratio and statistics.next_ratio <= rule.max_next_ratio
    return statistics.smallest_class if below else None


@dataclass(frozen=True)
class CalibrationRates:
    """The rule's record on the calibration set: clean models flagged (false alarms) of the clean ones, planted
    models flagged naming their target class (detections) of the planted ones."""

    false_alarms: int
    clean_models: int
    detections: int
    planted_models: int


def calibration_rates(rule: FlaggingRule, record=None) -> CalibrationRates:
    """``rule`` on the recorded calibration scans (``record``: default :data:`CALIBRATION`)."""
    record = json.loads(CALIBRATION.read_text()) if record is None else record
    false_alarms = clean = detections = planted = 0
    for entry in record.values():
        if entry["role"] not in ("clean", "planted") or "norms" not in entry:
            continue
        flagged = flagged_class(scan_statistics(entry["norms"], entry["success_rates"], entry["sign_area"]), rule)
        if entry["role"] == "clean":
            clean, false_alarms = clean + 1, false_alarms + (flagged is not None)
        else:
            planted, detections = planted + 1, detections + (flagged == entry["target"])
    return CalibrationRates(false_alarms, clean, detections, planted)
