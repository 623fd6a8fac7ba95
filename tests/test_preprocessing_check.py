"""The preprocessing check: the card's channel order, gray, equalisation and pixel range against the alternatives."""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.evidence.document import EvidenceDocument
from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.model_under_test import ModelCard, load_model, preprocess
from safety_harness.model_under_test.card import EQUALIZE_HIST, Equalisation, resolved_output_order
from safety_harness.model_under_test.preprocessing_check import (
    MIN_ACCURACY_GAIN,
    apply_check,
    card_variants,
    class_entropy,
    compare_preprocessing,
    model_predict,
    other_output_order,
    sample_indices,
)
from safety_harness.plan.plan import RunOptions, plan_run
from safety_harness.report.sections import render
from safety_harness.run.run import SafetyRun
from tests.evidence_samples import sample_evidence

CARDS = Path(__file__).parent / "shared_model_cards"
REQUIREMENTS = Path(__file__).parents[1] / "safety_tests" / "requirements.yaml"
NUM_CLASSES = 4


def images_and_labels(n=400, seed=0):
    """Images whose class is told by which channel holds the bright square: 0 red, 1 green, 2 blue, 3 none."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, n)
    images = rng.integers(0, 40, (n, 8, 8, 3)).astype(np.uint8)
    for image, label in zip(images, labels):
        if label < 3:
            image[2:6, 2:6, label] = 230
    return images, labels


def bgr_model(images: np.ndarray, card: ModelCard) -> np.ndarray:
    """A model trained on BGR in [0, 1]: reads red from its input's last channel. Fed another range, it
    saturates and answers class 3 whatever the image (a collapsed model)."""
    x = preprocess(images, card)
    bright = x[:, 2:6, 2:6, ::-1].mean(axis=(1, 2))
    collapsed = card.pixel_range != (0.0, 1.0)
    scores = np.concatenate([np.zeros_like(bright) if collapsed else bright * 20,
                             np.full((len(x), 1), 2.0 if collapsed else 5.0)], axis=1)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


BGR_CARD = ModelCard(size=(8, 8), channels="BGR", pixel_range=(0.0, 1.0), class_names=("r", "g", "b", "none"))


def test_variants_cross_channel_orders_with_ranges_and_equalisation_and_leave_gray_gray():
    variants = {(v.channels, v.pixel_range, v.steps) for v in card_variants(BGR_CARD)}
    assert len(variants) == 11 and ("BGR", (0.0, 1.0), ()) not in variants
    assert {("RGB", (0.0, 255.0), ()), ("BGR", (0.0, 1.0), (EQUALIZE_HIST,))} <= variants
    gray = replace(BGR_CARD, channels="GRAY", pixel_range=(-1.0, 0.9921875))
    gray_variants = {(v.channels, v.gray, v.pixel_range, v.steps) for v in card_variants(gray)}
    assert len(gray_variants) == 2 * 4 * 2 - 1 and {v[0] for v in gray_variants} == {"GRAY"}
    assert ("GRAY", "luma", (-1.0, 0.9921875), ()) in gray_variants
    assert ("GRAY", "mean", (-1.0, 0.9921875), (EQUALIZE_HIST,)) in gray_variants
    clahe = replace(gray, steps=(Equalisation(2.0, (4, 4)),))
    assert ("GRAY", "mean", (-1.0, 0.9921875), ()) in {(v.channels, v.gray, v.pixel_range, v.steps)
                                                       for v in card_variants(clahe)}


def test_the_other_output_order_is_text_order_or_class_id_order():
    gtsrb = ModelCard()
    as_text = other_output_order(gtsrb)
    assert as_text.output_order == resolved_output_order("sorted_as_text", 43) and replace(as_text, output_order=None) == gtsrb
    assert other_output_order(replace(gtsrb, output_order=(1, 0, *range(2, 43)))) == gtsrb
    assert other_output_order(BGR_CARD) is None  # 4 classes: 0..3 sort the same as text


def test_class_entropy_is_zero_for_one_class_and_one_for_uniform():
    assert class_entropy(np.zeros(10, int), 4) == 0
    assert class_entropy(np.arange(8) % 4, 4) == pytest.approx(1)


def test_the_right_card_stands_with_every_figure_recorded():
    images, labels = images_and_labels()
    check = compare_preprocessing(bgr_model, BGR_CARD, images, labels)
    assert check.best is None and check.card.accuracy == 1
    recorded = check.to_dict()
    assert recorded["clearly_better"] is None and len(recorded["alternatives"]) == 11
    assert all(a["accuracy"] is not None and a["p_value"] is not None for a in recorded["alternatives"])


@pytest.mark.parametrize("wrong, right", [({"channels": "RGB"}, "channels: BGR"),
                                          ({"pixel_range": (0.0, 255.0)}, "range: [0, 1]")])
def test_a_wrong_card_stops_naming_the_right_setting(wrong, right):
    images, labels = images_and_labels()
    card = replace(BGR_CARD, **wrong)
    check = compare_preprocessing(bgr_model, card, images, labels)
    assert check.best.card == BGR_CARD and check.best.p_value < 0.01
    assert check.best.accuracy - check.card.accuracy >= MIN_ACCURACY_GAIN
    model = _FakeModel(card=card, card_path=Path("m.yaml"), card_assumed=False)
    with pytest.raises(HarnessInputError) as error:
        apply_check(model, check)
    assert "m.yaml" in error.value.problem and f"'{right}'" in error.value.fix and "McNemar" in error.value.problem


def test_a_small_gain_is_not_clearly_better():
    """An alternative right on a few more images than the card is no reason to stop a run."""
    images, labels = images_and_labels()

    def mostly_either_way(batch, card):
        probabilities = bgr_model(batch, replace(card, channels="BGR"))
        if card.channels == "RGB":  # five images more wrong than fed as BGR
            probabilities[:5] = np.roll(probabilities[:5], 1, axis=1)
        return probabilities

    check = compare_preprocessing(mostly_either_way, replace(BGR_CARD, channels="RGB"), images, labels)
    assert check.best is None


def test_without_labels_a_collapsed_card_is_found_by_entropy_and_confidence():
    images, _ = images_and_labels()
    collapsed = replace(BGR_CARD, pixel_range=(0.0, 255.0))
    check = compare_preprocessing(bgr_model, collapsed, images, None)
    assert not check.labelled and check.card.accuracy is None and check.card.class_entropy == 0
    assert check.best is not None and check.best.card.pixel_range == (0.0, 1.0)
    assert compare_preprocessing(bgr_model, BGR_CARD, images, None).best is None


def test_an_assumed_card_is_replaced_by_the_best_loudly():
    images, labels = images_and_labels()
    assumed = replace(BGR_CARD, channels="RGB")
    check = compare_preprocessing(bgr_model, assumed, images, labels)
    model = apply_check(_FakeModel(card=assumed, card_path=None, card_assumed=True), check)
    assert model.card == BGR_CARD
    assert any("NO MODEL CARD" in w and "channels: BGR" in w for w in model.load_warnings)


def test_the_report_shows_the_figures_and_warns_when_an_assumed_card_was_replaced():
    images, labels = images_and_labels()
    check = compare_preprocessing(bgr_model, replace(BGR_CARD, channels="RGB"), images, labels).to_dict()
    evidence = sample_evidence()
    evidence["model"] |= {"card_assumed": True, "preprocessing_check": check}
    (html,) = render(EvidenceDocument.model_validate(evidence))
    assert "PREPROCESSING CHECK found channels: BGR, range: [0, 1] clearly better" in html
    assert "accuracy on 400 seeded ingest images: card RGB [0, 1] 0." in html
    assert "BGR [0, 1] 1.000" in html and "Outcome: channels: BGR, range: [0, 1] is clearly better" in html


def test_an_alternative_the_model_cannot_take_is_recorded_unusable():
    images, labels = images_and_labels()

    def overflows_beyond_unit_range(batch, card):
        if card.pixel_range != (0.0, 1.0):
            raise HarnessInputError("Model m.h5 gives NaN or infinite outputs", "check the range")
        return bgr_model(batch, card)

    check = compare_preprocessing(overflows_beyond_unit_range, BGR_CARD, images, labels)
    unusable = [v for v in check.alternatives if v.unusable]
    assert len(unusable) == 8 and check.best is None and "NaN" in unusable[0].unusable


def test_the_sample_is_seeded_and_bounded():
    assert np.array_equal(sample_indices(2000, 3), sample_indices(2000, 3))
    assert not np.array_equal(sample_indices(2000, 3), sample_indices(2000, 4))
    assert len(sample_indices(2000, 0)) == 512 and np.array_equal(sample_indices(10, 0), np.arange(10))


@dataclass(frozen=True)
class _FakeModel:
    """What :func:`apply_check` reads of a loaded model."""

    card: ModelCard
    card_path: Path | None
    card_assumed: bool
    load_warnings: tuple[str, ...] = ()


# ---- the shared third-party models (../shared) --------------------------------------------------------------

SHARED_MODELS = {"abis47": "traffic_classifier.h5", "nvarshi2004": "traffic_sign_model.keras"}


@pytest.fixture(scope="module")
def shared_sample(shared_path):
    """``sample(model) -> (images, labels)``: a seeded sample of the real GTSRB test set at the model's size."""
    ingest = open_ingest(shared_path("gtsrb", "Final_Test"))
    indices = sample_indices(len(ingest.records), seed=0)

    def sample(model):
        batch = next(iter_image_batches(ingest, model.card.size, model.card.interpolation, len(indices), indices))
        return batch.images, ingest.labels[batch.indices]

    return sample


@pytest.mark.parametrize("folder, wrong, right", [
    ("abis47", {"channels": "BGR"}, "channels: RGB"),
    ("abis47", {"pixel_range": (0.0, 1.0)}, "range: [0, 255]"),
    ("nvarshi2004", {"channels": "RGB"}, "channels: BGR"),
], ids=["abis47-fed-BGR", "abis47-fed-0-1", "nvarshi2004-fed-RGB"])
def test_a_shared_model_with_a_wrong_card_stops_with_the_right_setting(shared_path, shared_sample, folder, wrong,
                                                                      right):
    model = load_model(shared_path("models", folder, SHARED_MODELS[folder]), CARDS / f"{folder}.yaml")
    images, labels = shared_sample(model)
    check = compare_preprocessing(model_predict(model), model.card, images, labels)
    assert check.best is None, check.figures()
    assert check.card.accuracy > 0.9
    wrong_model = replace(model, card=replace(model.card, **wrong))
    wrong_check = compare_preprocessing(model_predict(wrong_model), wrong_model.card, images, labels)
    with pytest.raises(HarnessInputError) as error:
        apply_check(wrong_model, wrong_check)
    assert f"{folder}.yaml" in error.value.problem and f"'{right}'" in error.value.fix, str(error.value)


def test_a_shared_model_read_in_another_class_order_stops_naming_its_order(shared_path, shared_sample):
    """abis47's outputs are in class id order: read as a model trained on folders sorted as text would be, it
    collapses, and the check names the output_order to write (on 128 images: the gap is that large)."""
    model = load_model(shared_path("models", "abis47", SHARED_MODELS["abis47"]), CARDS / "abis47.yaml")
    images, labels = (part[:128] for part in shared_sample(model))
    misread = replace(model, card=replace(model.card, output_order=resolved_output_order("sorted_as_text", 43)))
    check = compare_preprocessing(model_predict(misread), misread.card, images, labels)
    assert check.best.card == model.card and check.card.accuracy < 0.3 < 0.9 < check.best.accuracy
    with pytest.raises(HarnessInputError) as error:
        apply_check(misread, check)
    assert "'output_order: class_id'" in error.value.fix and "output_order: sorted_as_text" in error.value.problem


def test_a_run_records_the_check_of_a_right_card(shared_path):
    options = RunOptions(model_path=shared_path("models", "abis47", SHARED_MODELS["abis47"]),
                         card_path=CARDS / "abis47.yaml", ingest_path=shared_path("gtsrb", "Final_Test"),
                         requirements_path=REQUIREMENTS)
    recorded = SafetyRun(plan_run(options)).model_identity()["preprocessing_check"]
    assert recorded["n"] == 512 and recorded["labelled"] and recorded["clearly_better"] is None
    assert recorded["card"]["accuracy"] > 0.9 and len(recorded["alternatives"]) == 12  # 11 and the class order
    assert [a["output_order"] for a in recorded["alternatives"]][-1] == list(resolved_output_order("sorted_as_text", 43))


def test_a_run_without_a_card_uses_the_clearly_better_preprocessing_loudly(shared_path):
    model_path = shared_path("models", "nvarshi2004", SHARED_MODELS["nvarshi2004"])
    assert not model_path.with_suffix(".yaml").exists()
    run = SafetyRun(plan_run(RunOptions(model_path=model_path, card_path=None,
                                        ingest_path=shared_path("gtsrb", "Final_Test"), requirements_path=REQUIREMENTS)))
    identity = run.model_identity()
    assert identity["card_assumed"] and identity["card"]["channels"] == "BGR"
    assert identity["preprocessing_check"]["clearly_better"] == "channels: BGR, range: [0, 1]"
    assert any("NO MODEL CARD" in warning for warning in identity["load_warnings"])


def test_a_run_with_a_wrong_card_stops_before_any_test(run_safety_suite, shared_path, tmp_path):
    card = tmp_path / "nvarshi2004_rgb.yaml"
    card.write_text((CARDS / "nvarshi2004.yaml").read_text().replace("channels: BGR", "channels: RGB"))
    run = run_safety_suite(f"--model={shared_path('models', 'nvarshi2004', SHARED_MODELS['nvarshi2004'])}",
                           f"--model-card={card}", f"--ingest={shared_path('gtsrb', 'Final_Test')}",
                           name="wrong-card")
    assert run.returncode == 4 and "Traceback" not in run.output, run.output
    assert f"Model card {card} looks wrong" in run.output and "Set 'channels: BGR'" in run.output


def test_equalisation_declared_for_a_model_not_trained_with_it_is_flagged(shared_path, final_test_subset):
    """ikreza_gray was trained on the mean of R, G, B without equalisation: a card adding equalize_hist costs it
    accuracy without collapsing it (0.84 against 0.90 on the sample), and the check names the line to write."""
    model = load_model(shared_path("models", "ikreza_gray", "traffic_sign.hdf5"), CARDS / "ikreza_gray.yaml")
    ingest = open_ingest(final_test_subset)
    indices = sample_indices(len(ingest.records), seed=0)
    batch = next(iter_image_batches(ingest, model.card.size, model.card.interpolation, len(indices), indices))
    labels = ingest.labels[batch.indices]
    assert compare_preprocessing(model_predict(model), model.card, batch.images, labels).best is None
    equalised = replace(model, card=replace(model.card, steps=(EQUALIZE_HIST,)))
    check = compare_preprocessing(model_predict(equalised), equalised.card, batch.images, labels)
    assert check.best.card == model.card and 0.7 < check.card.accuracy < check.best.accuracy - MIN_ACCURACY_GAIN
    with pytest.raises(HarnessInputError) as error:
        apply_check(equalised, check)
    assert error.value.fix.startswith(f"Set 'steps: []' in {CARDS / 'ikreza_gray.yaml'}"), str(error.value)
    assert "steps: [equalize_hist]" in error.value.problem
