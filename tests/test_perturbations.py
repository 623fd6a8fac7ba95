"""Perturbations: shape, determinism, order independence, stickers inside the sign, graded severity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety_harness.core.errors import HarnessInputError
from safety_harness.perturbations import (
    SEVERITIES,
    Perturbation,
    Sticker,
    apply_stickers,
    available,
    get_perturbation,
    perturb_batch,
    register,
    registry,
)
from safety_harness.perturbations.stickers import covered_pixels
from safety_harness.synthetic.renderer import render_sign

SIGNS = [render_sign(class_id, seed, size) for class_id, seed, size in
         [(14, 1, 32), (1, 2, 30), (13, 3, 48), (35, 4, 24), (25, 5, 64), (17, 6, 32)]]
NAMES = available()


def test_bundled_perturbations():
    assert {"rain", "fog", "snow", "sun_flare", "shadow", "sticker", "sticker_white", "sticker_colour",
            "gaussian_noise", "motion_blur", "defocus_blur", "brightness", "contrast", "jpeg", "pixelate"} <= set(NAMES)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(SEVERITIES), st.integers(0, 2**31), st.sampled_from(SIGNS))
def test_shape_dtype_and_determinism(name, severity, seed, sign):
    perturbation = get_perturbation(name)
    first = perturbation.apply(sign.image, severity, seed, sign.bbox)
    assert first.shape == sign.image.shape and first.dtype == np.uint8
    assert np.array_equal(first, perturbation.apply(sign.image.copy(), severity, seed, sign.bbox))


@pytest.mark.parametrize("name", ["rain", "fog", "snow", "sun_flare", "shadow", "sticker", "gaussian_noise"])
def test_another_seed_changes_the_pixels(name):
    image = SIGNS[0].image
    perturbation = get_perturbation(name)
    assert not np.array_equal(perturbation.apply(image, 3, 0), perturbation.apply(image, 3, 1))


@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_the_identity(name):
    assert np.array_equal(get_perturbation(name).apply(SIGNS[0].image, 0, 0), SIGNS[0].image)


def test_a_batch_in_any_order_gives_the_same_images():
    images = np.stack([render_sign(c, 9, 32).image for c in range(10)])
    rois = np.array([render_sign(c, 9, 32).bbox for c in range(10)])
    order = np.random.default_rng(0).permutation(10)
    for name in NAMES:
        perturbation = get_perturbation(name)
        whole = perturb_batch(perturbation, images, 2, 5, rois)
        shuffled = perturb_batch(perturbation, images[order], 2, 5, rois[order])
        assert np.array_equal(whole[order], shuffled), name


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["sticker", "sticker_white", "sticker_colour"]), st.sampled_from(SEVERITIES),
       st.integers(0, 2**31), st.sampled_from(SIGNS))
def test_stickers_stay_inside_the_sign_box(name, severity, seed, sign):
    changed = np.any(get_perturbation(name).apply(sign.image, severity, seed, sign.bbox) != sign.image, axis=2)
    x1, y1, x2, y2 = sign.bbox
    outside = changed.copy()
    outside[y1:y2, x1:x2] = False
    assert not outside.any()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["sticker", "sticker_white", "sticker_colour"]), st.sampled_from(SEVERITIES),
       st.integers(0, 2**31), st.sampled_from([None, (3, 4, 20, 22)]))
def test_a_sticker_perturbation_tells_the_pixels_it_paints(name, severity, seed, roi):
    image = np.full((24, 24, 3), 128, np.uint8)  # grey: no sticker colour, so every painted pixel changes
    perturbation = get_perturbation(name)
    painted = np.any(perturbation.apply(image, severity, seed, roi) != image, axis=2)
    assert np.array_equal(perturbation.mask(image, severity, seed, roi), painted) and painted.any()
    assert not perturbation.mask(image, 0, seed, roi).any()


@settings(max_examples=50)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0.01, 1), st.floats(0.01, 1), st.sampled_from(SIGNS))
def test_explicit_stickers_stay_inside_the_box(x, y, w, h, sign):
    changed = np.any(apply_stickers(sign.image, [Sticker(x, y, w, h, (1, 2, 3))], sign.bbox) != sign.image, axis=2)
    x1, y1, x2, y2 = sign.bbox
    changed[y1:y2, x1:x2] = False
    assert not changed.any()


@pytest.mark.parametrize("name", NAMES)
def test_higher_severity_changes_the_image_at_least_as_much_on_average(name):
    perturbation = get_perturbation(name)
    images = [render_sign(c, 100 + c, 32) for c in range(0, 43, 2)]
    change = [np.mean([np.abs(perturbation.apply(s.image, severity, 7, s.bbox).astype(float) - s.image).mean()
                       for s in images]) for severity in (0, *SEVERITIES)]
    assert all(later >= earlier * 0.97 for earlier, later in zip(change, change[1:])), change
    assert change[-1] > change[0]


def test_unknown_perturbations_are_refused_clearly():
    assert get_perturbation("fog").name == "fog"
    with pytest.raises(HarnessInputError, match="Unknown perturbation 'hail'"):
        get_perturbation("hail")


def test_a_perturbation_name_must_fit_in_a_condition():
    with pytest.raises(ValueError, match="letters, digits"):
        @register
        class Spaced(Perturbation):
            name = "dirty lens"
            severity_table = tuple({} for _ in SEVERITIES)


def test_a_team_adds_its_own_perturbation_in_one_small_class(monkeypatch):
    # registered in a copy of the registry, restored after the test: no other test sees it
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register
    class Invert(Perturbation):
        name = "test_invert"
        description = "inverted colours"
        severity_table = tuple({"share": s} for s in (0.2, 0.4, 0.6, 0.8, 1.0))

        def _apply(self, image, parameters, rng, roi):
            return image * (1 - parameters["share"]) + (255 - image.astype(float)) * parameters["share"]

    assert np.array_equal(get_perturbation("test_invert").apply(SIGNS[0].image, 5, 0), 255 - SIGNS[0].image)


def test_covered_pixels_counts_what_is_painted_once():
    roi = (2, 2, 22, 22)
    tiny = Sticker(0.5, 0.5, 0.001, 0.001, (0, 0, 0))
    assert covered_pixels([tiny], roi) == 1  # a sticker is at least one pixel
    half = Sticker(0.5, 0.5, 0.5, 0.5, (0, 0, 0))
    assert covered_pixels([half, half], roi) == 100
    painted = apply_stickers(np.full((24, 24, 3), 128, np.uint8), [half, tiny], roi)
    assert covered_pixels([half, tiny], roi) == int(np.any(painted != 128, axis=2).sum())
