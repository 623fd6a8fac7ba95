"""Classification rates as counts (successes out of n), so they can be bounded.

Every function returns a :class:`Proportion`: the verdict is judged on an exact
binomial bound of ``successes / n``, which needs the counts, not just the ratio.
Inputs are integer class ids: ``labels`` (ground truth) and ``predictions``
(arg-max of the model's output), both of shape ``(n_samples,)``.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``n``; ``value`` is NaN when ``n == 0``.

    ``population`` and ``hits`` are the per-sample masks the counts come from, so a
    report can show the samples behind a verdict.
    """

    successes: int
    n: int
    population: np.ndarray | None = field(default=None, repr=False, compare=False)
    hits: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def value(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    def adverse_positions(self, direction: str) -> np.ndarray:
        """Positions of the samples that count against ``rate <direction> threshold``:
        the misses for a floor (``>=``), the events for a ceiling (``<=``)."""
        if self.population is None:
            raise ValueError("this proportion carries no per-sample masks")
        adverse = ~self.hits if direction == ">=" else self.hits
        return np.flatnonzero(self.population & adverse)


def _check_labels(labels, predictions):
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions must have the shape of labels {labels.shape}, got {predictions.shape}"
        )
    for name, array in (("labels", labels), ("predictions", predictions)):
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class ids, got dtype {array.dtype}")
    return labels, predictions


def proportion(hits, population) -> Proportion:
    """The share of the samples in ``population`` (a boolean mask) that are ``hits`` (a boolean mask of the same
    shape), with both masks kept: how a metric of one's own becomes a rate the harness can bound."""
    hits, population = np.asarray(hits, dtype=bool), np.asarray(population, dtype=bool)
    if hits.shape != population.shape:
        raise ValueError(f"hits must have the shape of population {population.shape}, got {hits.shape}")
    return Proportion(
        successes=int(np.count_nonzero(hits & population)),
        n=int(np.count_nonzero(population)),
        population=population,
        hits=hits,
    )


def recall(labels, predictions, class_id: int) -> Proportion:
    """Share of samples of ``class_id`` predicted as ``class_id``: TP / (TP + FN)."""
    labels, predictions = _check_labels(labels, predictions)
    return proportion(predictions == class_id, labels == class_id)


def precision(labels, predictions, class_id: int) -> Proportion:
    """Share of predictions of ``class_id`` that are right: TP / (TP + FP).

    For the stop sign, 1 - precision is the rate of phantom stops.
    """
    labels, predictions = _check_labels(labels, predictions)
    return proportion(labels == class_id, predictions == class_id)


def accuracy(labels, predictions) -> Proportion:
    """Share of samples predicted as their label."""
    labels, predictions = _check_labels(labels, predictions)
    return proportion(predictions == labels, np.ones(labels.shape, dtype=bool))


def confusion_rate(labels, predictions, class_id: int, confused_with) -> Proportion:
    """Share of samples of ``class_id`` predicted as any class in ``confused_with``.

    A critical confusion: a stop sign taken for a speed limit or a priority sign.
    """
    labels, predictions = _check_labels(labels, predictions)
    confused_with = np.asarray(sorted(set(confused_with)), dtype=np.int64)
    if class_id in confused_with:
        raise ValueError(f"confused_with must not contain class_id {class_id}")
    return proportion(np.isin(predictions, confused_with), labels == class_id)


def flip_rate(labels, clean_predictions, perturbed_predictions, class_id: int | None = None) -> Proportion:
    """Share of correctly recognised samples whose prediction changes under a perturbation.

    The population is the samples predicted right on clean input (of ``class_id``
    when given); a flip is a perturbed prediction different from the clean one.
    """
    labels, clean_predictions = _check_labels(labels, clean_predictions)
    _, perturbed_predictions = _check_labels(labels, perturbed_predictions)
    population = clean_predictions == labels
    if class_id is not None:
        population &= labels == class_id
    return proportion(perturbed_predictions != clean_predictions, population)


@dataclass(frozen=True)
class AccuracyDrop:
    """``value`` = clean accuracy - perturbed accuracy = (lost - gained) / n.

    ``lost`` counts the samples right on clean input and wrong under the perturbation. Since
    ``value <= lost / n``, an upper confidence bound of ``lost / n`` bounds the drop from above
    (conservatively): a ceiling on the drop is judged on it.
    """

    value: float
    lost: Proportion


def accuracy_drop(labels, clean_predictions, perturbed_predictions) -> AccuracyDrop:
    labels, clean_predictions = _check_labels(labels, clean_predictions)
    _, perturbed_predictions = _check_labels(labels, perturbed_predictions)
    clean_right, perturbed_right = clean_predictions == labels, perturbed_predictions == labels
    everyone = np.ones(labels.shape, dtype=bool)
    value = (clean_right.mean() - perturbed_right.mean()) if labels.size else float("nan")
    return AccuracyDrop(float(value), proportion(clean_right & ~perturbed_right, everyone))
