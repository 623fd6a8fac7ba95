"""The perturbation base class and the determinism contract.

A perturbation has a ``name``, five severities each defined by an explicit parameter set,
and applies to one uint8 RGB image. The result is a pure function of (image, perturbation,
severity, seed): each image draws its randomness from a generator seeded by those four, the
image entering through a hash of its bytes, so the order or batching of images changes nothing.
"""

import hashlib

import numpy as np

from safety_harness.plan.conditions import SEVERITIES


def default_roi(height: int, width: int) -> tuple[int, int, int, int]:
    """The sign's box when the ingest gives none: centred, with GTSRB's ~10 % margin per side."""
    return (round(0.1 * width), round(0.1 * height), round(0.9 * width), round(0.9 * height))


def image_rng(image: np.ndarray, name: str, severity: int, seed: int) -> np.random.Generator:
    digest = hashlib.blake2b(f"{name}:{severity}:{seed}:{image.shape}".encode(), digest_size=8)
    digest.update(np.ascontiguousarray(image).tobytes())
    return np.random.default_rng(int.from_bytes(digest.digest(), "little"))


class Perturbation:
    """Base class: subclasses set ``name``, ``description``, ``severity_table`` and implement ``_apply``."""

    name: str = ""
    description: str = ""
    #: one parameter dict per severity 1..5, shown in the report as the definition of each severity
    severity_table: tuple[dict, ...] = ()

    def severity_parameters(self, severity: int) -> dict:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        return dict(self.severity_table[severity - 1])

    def apply(self, image: np.ndarray, severity: int, seed: int, roi=None) -> np.ndarray:
        """The perturbed copy of ``image`` (uint8, (H, W, 3)); ``roi`` is the sign's box or None."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be uint8 of shape (H, W, 3), got {image.dtype} {image.shape}")
        if severity == 0:
            return image.copy()
        out = self._apply(image, *self._drawing(image, severity, seed, roi))
        return np.ascontiguousarray(out, dtype=np.uint8)

    def _drawing(self, image: np.ndarray, severity: int, seed: int, roi):
        """``(parameters, generator, box)`` :meth:`_apply` draws from: the same for the same arguments."""
        parameters = self.severity_parameters(severity)
        height, width = image.shape[:2]
        if roi is None or min(roi) < 0:
            roi = default_roi(height, width)
        return parameters, image_rng(image, self.name, severity, seed), tuple(int(v) for v in roi)

    def _apply(self, image, parameters: dict, rng: np.random.Generator, roi) -> np.ndarray:
        raise NotImplementedError


def perturb_batch(perturbation: Perturbation, images: np.ndarray, severity: int, seed: int, rois=None) -> np.ndarray:
    """Perturb every image of a (n, H, W, 3) batch; ``rois`` (n, 4) may hold -1 rows for unknown boxes."""
    rois = [None] * len(images) if rois is None else rois
    return np.stack([perturbation.apply(image, severity, seed, roi) for image, roi in zip(images, rois)]) \
        if len(images) else images.copy()
