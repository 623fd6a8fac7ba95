"""Is the card's preprocessing the one the model was trained with? A check on a seeded sample before judging.

A model fed the wrong channel order or pixel range collapses (a BGR model fed RGB loses every stop
sign; a [0, 255] model fed [0, 1] falls to about 13 % accuracy), and every verdict after that says
"fail" without saying why. So, before the first prediction, the card's preprocessing is compared
on one batch of the ingest with the alternatives real repositories get wrong: channel order RGB/BGR
(a GRAY card keeps its channels, and tries the mean of R, G, B against OpenCV's luma) crossed with the pixel
ranges [0, 1], [0, 255] and [-1, 1] and with histogram equalisation on and off (a card without histogram
steps tries OpenCV's ``equalizeHist``; one with steps tries none). A model fed the wrong gray or
equalisation loses accuracy without collapsing (a GTSRB model trained on equalised luma: 0.95 fed so,
0.86 fed the mean without equalisation), which only a comparison like this one shows. With labels, the
card's outputs are also read in the other class order (:func:`other_output_order`): a model trained on
class folders ``0 ... 42`` sorted as text, read in class id order, collapses (a real one: 0.06 accuracy
against 0.94).

Rule, with labels: an alternative is *clearly better* when its accuracy exceeds the card's by at
least :data:`MIN_ACCURACY_GAIN` and an exact one-sided McNemar test on the same images (the images
only the alternative gets right against those only the card gets right) gives p < :data:`ALPHA`.

Rule, without labels: a collapsed model predicts few classes. An alternative is *clearly better* when
the normalised entropy of its predicted-class histogram, ``H = -sum_k h_k ln h_k / ln K``, exceeds
the card's by at least :data:`MIN_ENTROPY_GAIN` and its mean confidence (max probability) is higher,
significantly so by a one-sided Wilcoxon signed-rank test on the same images (p < :data:`ALPHA`).
Confidence alone is no guide: a model fed [0, 255] instead of [0, 1] is confidently wrong.

References: McNemar, Q. (1947), Psychometrika 12(2); Wilcoxon, F. (1945), Biometrics Bulletin 1(6).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import binomtest, wilcoxon

from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test.card import (
    EQUALIZE_HIST,
    GRAY_WEIGHTS,
    Equalisation,
    ModelCard,
    resolved_output_order,
)
from safety_harness.model_under_test.inference import LoadedModel

SAMPLE_SIZE = 512
ALPHA = 0.01
#: the mildest real mismatch measured (abis47 fed BGR) costs 0.10 accuracy on a 512-image sample
MIN_ACCURACY_GAIN = 0.05
#: a range mismatch cuts the normalised class entropy by 0.5 or more on the shared models
MIN_ENTROPY_GAIN = 0.10
CHANNEL_ORDERS = ("RGB", "BGR")
PIXEL_RANGES = ((0.0, 1.0), (0.0, 255.0), (-1.0, 1.0))

RULE_LABELLED = (f"clearly better: accuracy higher by >= {MIN_ACCURACY_GAIN} and an exact one-sided McNemar test "
                 f"on the same images p < {ALPHA}")
RULE_UNLABELLED = (f"clearly better: normalised predicted-class entropy higher by >= {MIN_ENTROPY_GAIN} and mean "
                   f"confidence higher with a one-sided Wilcoxon signed-rank test on the same images p < {ALPHA}")

#: ``(uint8 RGB images, card) -> class probabilities`` as the model gives them fed as ``card`` says
Predict = Callable[[np.ndarray, ModelCard], np.ndarray]


def _card_lines(card: ModelCard) -> dict[str, str]:
    """The card lines the check varies, as a card writes them (the gray of a GRAY card only, steps only when set):
    ``{"channels": "channels: GRAY", "gray": "gray: luma", "steps": "steps: [equalize_hist]", "range": ...}``."""
    lo, hi = card.pixel_range
    lines = {"channels": f"channels: {card.channels}"}
    if card.channels == "GRAY" and card.gray != "mean":
        lines["gray"] = f"gray: {card.gray}"
    if card.steps:
        lines["steps"] = f"steps: {_flow([step.to_card() for step in card.steps])}"
    lines["range"] = f"range: [{lo:g}, {hi:g}]"
    if card.output_order is not None:
        lines["output_order"] = f"output_order: {_order_text(card)}"
    return lines


def _order_text(card: ModelCard) -> str:
    """The card's ``output_order`` as a card writes it: ``sorted_as_text`` when it is that order, else the list."""
    sorted_as_text = resolved_output_order("sorted_as_text", len(card.class_names))
    return "sorted_as_text" if card.output_order == sorted_as_text else _flow(list(card.output_order))


def _flow(value) -> str:
    """``value`` (a step list) in YAML's flow style: ``[equalize_hist, {clahe: {clip_limit: 2, ...}}]``."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting(card: ModelCard) -> str:
    """The preprocessing a card sets, as written in a card: ``channels: BGR, range: [0, 1]``."""
    return ", ".join(_card_lines(card).values())


def card_variants(card: ModelCard) -> tuple[ModelCard, ...]:
    """The alternatives to ``card``: every channel order (GRAY stays GRAY, with the mean and the luma) with every
    common range, with and without histogram equalisation, card's own excluded."""
    gray = card.channels == "GRAY"
    orders = (card.channels,) if gray else CHANNEL_ORDERS
    grays = GRAY_WEIGHTS if gray else (card.gray,)
    ranges = tuple(dict.fromkeys((card.pixel_range, *PIXEL_RANGES)))
    equalisations = (card.steps, () if card.steps else (EQUALIZE_HIST,))
    variants = (replace(card, channels=channels, gray=weights, pixel_range=pixel_range, steps=steps)
                for channels in orders for weights in grays for pixel_range in ranges for steps in equalisations)
    return tuple(variant for variant in variants if variant != card)


def other_output_order(card: ModelCard) -> ModelCard | None:
    """``card`` with its outputs read in the other class order: class id order for a card that reorders them, else
    the class ids sorted as text; None when that is no other order (fewer than 11 classes)."""
    if card.output_order is not None:
        return replace(card, output_order=None)
    order = resolved_output_order("sorted_as_text", len(card.class_names))
    return None if order is None else replace(card, output_order=order)


def class_entropy(predicted: np.ndarray, num_classes: int) -> float:
    """Entropy of the predicted-class histogram over ``ln(num_classes)``: 0 when one class is predicted, 1 uniform."""
    shares = np.bincount(predicted, minlength=num_classes) / len(predicted)
    shares = shares[shares > 0]
    return float(-(shares * np.log(shares)).sum() / np.log(num_classes))


@dataclass(frozen=True)
class VariantFigures:
    """How the model does on the sample fed as ``card`` says; ``p_value`` and ``clearly_better`` compare it
    with the card in force (None for the card itself); ``unusable`` says why a variant gave no output."""

    card: ModelCard
    accuracy: float | None = None
    mean_confidence: float | None = None
    class_entropy: float | None = None
    p_value: float | None = None
    clearly_better: bool = False
    unusable: str | None = None

    def to_dict(self) -> dict:
        lo, hi = self.card.pixel_range
        order = self.card.output_order
        return {"channels": self.card.channels, "gray": self.card.gray,
                "steps": [step.to_card() for step in self.card.steps], "range": [lo, hi],
                "output_order": None if order is None else list(order), "accuracy": self.accuracy,
                "mean_confidence": self.mean_confidence, "class_entropy": self.class_entropy,
                "p_value": self.p_value, "clearly_better": self.clearly_better, "unusable": self.unusable}

    @classmethod
    def from_dict(cls, figures: dict, card: ModelCard) -> "VariantFigures":
        """The figures :meth:`to_dict` gave, for ``card`` fed with their channel order, gray, steps and range, its
        outputs read in their class order."""
        order = figures["output_order"]
        variant = replace(card, channels=figures["channels"], gray=figures["gray"], pixel_range=tuple(figures["range"]),
                          steps=tuple(Equalisation.from_card(step) for step in figures["steps"]),
                          output_order=None if order is None else tuple(order))
        return cls(variant, **{name: figures[name] for name in
                               ("accuracy", "mean_confidence", "class_entropy", "p_value", "clearly_better", "unusable")})


@dataclass(frozen=True)
class PreprocessingCheck:
    """The card's figures, every alternative's, and the best clearly better alternative (None: the card stands)."""

    n: int
    labelled: bool
    card: VariantFigures
    alternatives: tuple[VariantFigures, ...]

    @property
    def rule(self) -> str:
        return RULE_LABELLED if self.labelled else RULE_UNLABELLED

    @property
    def best(self) -> VariantFigures | None:
        better = [v for v in self.alternatives if v.clearly_better]
        if not better:
            return None
        # on a tie, the alternative that changes fewest lines of the card: a range of [-1, 1] for [-1, 0.992]
        # often predicts the same, and is no change to ask for
        return max(better, key=lambda v: (v.accuracy if self.labelled else v.class_entropy,
                                          -len(_changed_lines(self.card.card, v.card)), v.mean_confidence))

    def figures(self) -> str:
        """One line per variant, the card's first, for a message."""
        def line(v: VariantFigures, tag: str) -> str:
            if v.unusable:
                return f"{setting(v.card)}: unusable ({v.unusable})"
            accuracy = f"accuracy {v.accuracy:.3f}, " if v.accuracy is not None else ""
            p_value = "" if v.p_value is None else f", p = {v.p_value:.2g}"
            return (f"{setting(v.card)}{tag}: {accuracy}mean confidence {v.mean_confidence:.3f}, "
                    f"class entropy {v.class_entropy:.3f}{p_value}")
        lines = [line(self.card, " (card)"), *(line(v, "") for v in self.alternatives)]
        return "\n".join(f"    {text}" for text in lines)

    def to_dict(self) -> dict:
        best = self.best
        return {"n": self.n, "labelled": self.labelled, "rule": self.rule, "card": self.card.to_dict(),
                "alternatives": [v.to_dict() for v in self.alternatives],
                "clearly_better": None if best is None else setting(best.card)}

    @classmethod
    def from_dict(cls, document: dict, card: ModelCard) -> "PreprocessingCheck":
        """The check :meth:`to_dict` gave for a model fed as ``card`` says."""
        return cls(document["n"], document["labelled"], VariantFigures.from_dict(document["card"], card),
                   tuple(VariantFigures.from_dict(figures, card) for figures in document["alternatives"]))


def _figures(card: ModelCard, probabilities: np.ndarray, labels: np.ndarray | None) -> VariantFigures:
    predicted = probabilities.argmax(axis=1)
    return VariantFigures(
        card, accuracy=None if labels is None else float((predicted == labels).mean()),
        mean_confidence=float(probabilities.max(axis=1).mean()),
        class_entropy=class_entropy(predicted, probabilities.shape[1]))


def _compared(alternative: VariantFigures, card: VariantFigures, probabilities: np.ndarray,
              card_probabilities: np.ndarray, labels: np.ndarray | None) -> VariantFigures:
    """``alternative`` with its one-sided p-value against ``card`` on the same images, and the rule's decision."""
    if labels is not None:
        correct, card_correct = probabilities.argmax(axis=1) == labels, card_probabilities.argmax(axis=1) == labels
        only_alternative, only_card = int((correct & ~card_correct).sum()), int((card_correct & ~correct).sum())
        discordant = only_alternative + only_card
        p_value = 1.0 if not discordant else binomtest(only_alternative, discordant, 0.5, "greater").pvalue
        better = p_value < ALPHA and alternative.accuracy - card.accuracy >= MIN_ACCURACY_GAIN
    else:
        differences = probabilities.max(axis=1) - card_probabilities.max(axis=1)
        p_value = 1.0 if not differences.any() else wilcoxon(differences, alternative="greater").pvalue
        better = p_value < ALPHA and alternative.class_entropy - card.class_entropy >= MIN_ENTROPY_GAIN
    return replace(alternative, p_value=float(p_value), clearly_better=bool(better))


def compare_preprocessing(predict: Predict, card: ModelCard, images: np.ndarray,
                          labels: np.ndarray | None) -> PreprocessingCheck:
    """The card's preprocessing against :func:`card_variants` (and, with ``labels``, :func:`other_output_order`) on
    ``images`` (uint8 RGB at the card's size), by the module's rule; ``labels`` (ClassIds of ``images``) None for
    an unlabelled sample, whose class histogram and confidences no class order changes.

    One forward pass per variant, deterministic for a given model and sample. A variant the model gives no
    valid output for (:class:`HarnessInputError`, e.g. overflow) is recorded as unusable; the card's own
    failure is raised, as the run would raise it.
    """
    if images.ndim != 4 or not len(images):
        raise ValueError(f"images must be a non-empty batch (n, H, W, C), got shape {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels must hold one ClassId per image ({len(images)}), got {len(labels)}")
    card_probabilities = predict(images, card)
    card_figures = _figures(card, card_probabilities, labels)
    alternatives = []
    reordered = None if labels is None else other_output_order(card)
    for variant in (*card_variants(card), *(() if reordered is None else (reordered,))):
        try:
            probabilities = predict(images, variant)
        except HarnessInputError as error:
            alternatives.append(VariantFigures(variant, unusable=error.problem))
            continue
        alternatives.append(_compared(_figures(variant, probabilities, labels), card_figures, probabilities,
                                      card_probabilities, labels))
    return PreprocessingCheck(len(images), labels is not None, card_figures, tuple(alternatives))


def sample_indices(n: int, seed: int, size: int = SAMPLE_SIZE) -> np.ndarray:
    """``min(size, n)`` positions out of ``n``, drawn without replacement with ``seed``, in increasing order."""
    return np.sort(np.random.default_rng(seed).choice(n, min(size, n), replace=False))


def model_predict(model: LoadedModel) -> Predict:
    """``model``'s forward pass fed as any card says (the variants share the compiled forward pass)."""
    return lambda images, card: replace(model, card=card).predict(images).probabilities


def apply_check(model: LoadedModel, check: PreprocessingCheck) -> LoadedModel:
    """The model to evaluate after ``check``: unchanged when no alternative is clearly better; with an assumed
    card, the best alternative in its place and a warning saying so; with a card, a :class:`HarnessInputError`."""
    best = check.best
    if best is None:
        return model
    evidence = f"On {check.n} seeded ingest images ({check.rule}):\n{check.figures()}"
    if not model.card_assumed:
        raise HarnessInputError(
            f"Model card {model.card_path} looks wrong: with {setting(best.card)} the model does clearly better than "
            f"with the card's {setting(model.card)}. {evidence}",
            f"Set {_changes(model.card, best.card)} in {model.card_path} if the model's training code feeds it so "
            "(read it to be sure); a model fed the wrong channel order or range, or read in the wrong class order, "
            "fails every requirement for that reason alone, and one fed the wrong gray or equalisation loses "
            "accuracy on every requirement.")
    warning = (f"NO MODEL CARD: the assumed {setting(model.card)} is clearly worse than {setting(best.card)}, "
               f"which the run USES instead (preprocessing check, {check.rule}). Provide a card with --model-card.")
    return replace(model, card=best.card, load_warnings=(*model.load_warnings, warning))


def _changes(card: ModelCard, better: ModelCard) -> str:
    """The lines to write in ``card`` to feed as ``better`` does: ``'channels: BGR' and 'range: [0, 255]'``."""
    return " and ".join(f"'{line}'" for line in _changed_lines(card, better))


def _changed_lines(card: ModelCard, better: ModelCard) -> list[str]:
    """The lines of ``better`` that differ from ``card``'s; a setting ``better`` leaves at its default is written
    out (``gray: mean``, ``steps: []``)."""
    lines, better_lines = _card_lines(card), _card_lines(better)
    defaults = {"gray": "gray: mean", "steps": "steps: []", "output_order": "output_order: class_id"}
    return [better_lines.get(key, defaults.get(key)) for key in dict.fromkeys((*lines, *better_lines))
            if better_lines.get(key) != lines.get(key)]
