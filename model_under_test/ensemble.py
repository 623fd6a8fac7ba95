"""A deep ensemble of saved classifiers, judged as one model: ``--model`` given more than once.

The ensemble predicts the mean of its members' probabilities (:mod:`safety_harness.metrics.ensemble`;
Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017). Every member keeps its own card: the ensemble sees
one image, decoded (and perturbed) at the largest member input size with that member's resize method,
and each member resizes it to its own input size with its own card's method and feeds it with its own
channel order and pixel range. A member smaller than the largest thus sees an image resampled twice
(from the file to the largest size, then to its own), the price of every member seeing the same pixels
under a perturbation.

The members are combined in the order of their SHA-256 (then card): the mean does not depend on the
order given, so neither do the predictions nor their cache key; the evidence lists them as given.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest.reader import resize_rgb
from safety_harness.metrics.ensemble import mean_probabilities
from safety_harness.model_under_test.card import ModelCard
from safety_harness.model_under_test.inference import LoadedModel, ModelOutputs

#: how the members' outputs become the ensemble's (the evidence states it)
COMBINATION = "mean of the members' probabilities (each member softmaxed first when its card says logits)"


@dataclass(frozen=True)
class Ensemble:
    """Members loaded with their own cards, combined by the mean of their probabilities."""

    #: as given on the command line
    members: tuple[LoadedModel, ...]

    @property
    def _combined(self) -> tuple[LoadedModel, ...]:
        """The members in the order they are combined in: by SHA-256, then card."""
        return tuple(sorted(self.members, key=lambda m: (m.sha256, json.dumps(m.card.to_dict(), sort_keys=True))))

    @property
    def sha256(self) -> str:
        """The ensemble's identity: SHA-256 over its members' digests and cards, in combination order."""
        members = [[m.sha256, m.card.to_dict()] for m in self._combined]
        return hashlib.sha256(json.dumps(members, sort_keys=True).encode()).hexdigest()

    @property
    def card(self) -> ModelCard:
        """How the ensemble's images are decoded: at the largest member input size (ties: the first in
        combination order), with that member's resize and its class names (every member has the same)."""
        return max(self._combined, key=lambda m: m.card.size[0] * m.card.size[1]).card

    @property
    def card_assumed(self) -> bool:
        return any(m.card_assumed for m in self.members)

    @property
    def gradients_unavailable_reason(self) -> str:
        """Why what differentiates one network or runs its layers (MC dropout) does not apply to the ensemble."""
        return ("an ensemble has one network per member, each with its own input size and preprocessing, and no "
                "single network to differentiate or run layer by layer")

    @property
    def network_loaded(self) -> bool:
        return any(m.network_loaded for m in self.members)

    def predict(self, images: np.ndarray) -> ModelOutputs:
        """One forward pass of every member on uint8 RGB images at :attr:`card`'s size: the mean of their
        probabilities, each member's in ``member_probabilities`` (n, members, classes); no logits, no features."""
        members = np.stack([m.predict(_resized(images, m.card)).probabilities for m in self._combined], axis=1)
        return ModelOutputs(mean_probabilities(members), None, None, member_probabilities=members)


def _resized(images: np.ndarray, card: ModelCard) -> np.ndarray:
    """``images`` (n, H, W, 3) at ``card.size`` with the card's resize (unchanged when already that size)."""
    height, width = card.size
    if images.shape[1:3] == (height, width):
        return images
    resized = [resize_rgb(image, (height, width), card.interpolation) for image in images]
    return np.stack(resized) if resized else np.zeros((0, height, width, images.shape[-1]), images.dtype)


def ensemble_of(members) -> Ensemble:
    """The ensemble of loaded ``members`` (two or more), refused with a :class:`HarnessInputError` when its
    members cannot be averaged: different classes, or the same model twice."""
    members = tuple(members)
    if len(members) < 2:
        raise ValueError(f"an ensemble needs two or more members, got {len(members)}")
    first = members[0]
    for member in members[1:]:
        if len(member.card.class_names) != len(first.card.class_names):
            raise HarnessInputError(
                f"Ensemble members disagree on their classes: --model {first.path} has "
                f"{len(first.card.class_names)} and --model {member.path} has {len(member.card.class_names)}",
                "Ensemble only models trained for the same classes, in the same output order.")
        if member.card.class_names != first.card.class_names:
            raise HarnessInputError(
                f"Ensemble members disagree on their classes: the cards of --model {first.path} and --model "
                f"{member.path} name them differently",
                "Give every member a card whose 'classes' lists the same names in the same order: the ensemble "
                "averages the members' outputs class by class.")
    seen = {}
    for member in members:
        key = (member.sha256, json.dumps(member.card.to_dict(), sort_keys=True))
        if key in seen:
            raise HarnessInputError(
                f"--model {member.path} is the same model, with the same card, as --model {seen[key]}: an "
                "ensemble member given twice weighs double and agrees with itself",
                "Give each ensemble member once.")
        seen[key] = member.path
    return Ensemble(members)

