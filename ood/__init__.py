"""Out-of-distribution alarm: detectors behind one interface, thresholds, generated OOD sets."""

from ood.datasets import OOD_SET_NAMES, OodSet, bundled_ood_sets
from ood.detectors import DETECTORS, Detector, DetectorInputs, fit_threshold

__all__ = ["DETECTORS", "OOD_SET_NAMES", "Detector", "DetectorInputs", "OodSet", "bundled_ood_sets", "fit_threshold"]
