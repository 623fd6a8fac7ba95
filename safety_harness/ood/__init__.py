"""Out-of-distribution alarm: detectors behind one interface, thresholds, generated OOD sets."""

from safety_harness.ood.datasets import GIVEN_OOD_SETS, OOD_SET_NAMES, OodSet, bundled_ood_sets
from safety_harness.ood.detectors import (
    Detector,
    DetectorInputs,
    Energy,
    EnsembleDisagreement,
    Mahalanobis,
    MaxSoftmax,
    fit_threshold,
)
from safety_harness.ood.mc_dropout import McDropoutScores, McEntropy, McMutualInformation
from safety_harness.ood.reconstruction import Reconstruction, appearance
from safety_harness.ood.vae import VariationalAutoencoder

DETECTORS = {detector.name: detector for detector in (MaxSoftmax, Energy, Mahalanobis, Reconstruction,
                                                       EnsembleDisagreement, McEntropy, McMutualInformation,
                                                       VariationalAutoencoder)}

__all__ = ["DETECTORS", "GIVEN_OOD_SETS", "OOD_SET_NAMES", "Detector", "DetectorInputs", "McDropoutScores", "OodSet", "appearance",
           "bundled_ood_sets", "fit_threshold"]
