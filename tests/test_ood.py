"""OOD alarm library: AUROC, thresholds, detectors, drift, generated OOD sets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import mahalanobis
from scipy.special import log_softmax, softmax
from scipy.stats import beta, mannwhitneyu, norm

from safety_harness.metrics.bootstrap import bootstrap_bound
from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper
from safety_harness.metrics.drift import HISTOGRAM_BINS, ks_distance_upper_bound, ks_drift, occupied_histogram_bins
from safety_harness.metrics.ranking import AurocInterval, auroc, auroc_delong, fpr_at_tpr
from safety_harness.ood import DETECTORS, OOD_SET_NAMES, DetectorInputs, appearance, bundled_ood_sets, fit_threshold
from safety_harness.synthetic.renderer import render_sign

score_lists = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(score_lists, score_lists)
def test_auroc_is_the_mann_whitney_statistic_scaled(scores_in, scores_out):
    u = mannwhitneyu(scores_out, scores_in, method="asymptotic").statistic
    assert auroc(scores_in, scores_out) == pytest.approx(u / (len(scores_in) * len(scores_out)))


def test_auroc_extremes_and_ties():
    assert auroc([0, 1], [2, 3]) == 1.0
    assert auroc([2, 3], [0, 1]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5


def test_fpr_at_tpr_by_hand():
    # alarm on >= 0.6 catches 19 of 20 OOD; 2 of 10 in-distribution scores reach it
    scores_out = [0.5] + [0.6 + 0.01 * i for i in range(19)]
    scores_in = [0.0] * 8 + [0.7, 0.9]
    assert fpr_at_tpr(scores_in, scores_out, 0.95) == pytest.approx(0.2)


@pytest.mark.parametrize("bad", [[], [np.nan], [np.inf]])
def test_scores_must_be_finite_and_non_empty(bad):
    with pytest.raises(ValueError, match="scores_in"):
        auroc(bad, [1.0])


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0.01, 0.02, 0.05, 0.1]), st.integers(0, 2**32 - 1))
def test_fitted_threshold_meets_its_false_alarm_target_on_held_out_draws(target, seed):
    n = 2000
    rng = np.random.default_rng(seed)
    threshold = fit_threshold(rng.normal(size=n), target)
    # the true false-alarm rate of the k-th smallest of n scores is Beta(n - k + 1, k) distributed
    k = int(np.ceil((1 - target) * n))
    true_rate = norm.sf(threshold)
    assert beta.ppf(1e-6, n - k + 1, k) <= true_rate <= beta.ppf(1 - 1e-6, n - k + 1, k)
    assert beta.mean(n - k + 1, k) == pytest.approx(target, rel=0.05)
    alarms = int(np.sum(rng.normal(size=20000) > threshold))
    assert clopper_pearson_lower(alarms, 20000, 0.9999) <= true_rate <= clopper_pearson_upper(alarms, 20000, 0.9999)


def test_fitted_threshold_never_exceeds_the_target_on_its_own_data():
    scores = np.arange(100, dtype=float)
    threshold = fit_threshold(scores, 0.05)
    assert np.mean(scores > threshold) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="target_false_alarm_rate"):
        fit_threshold(scores, 0)


def clusters(rng, centres, n):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(0, 0.3, (n, centres.shape[1])), labels


def test_output_detectors_score_unknown_inputs_higher():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (4, 8))
    features, labels = clusters(rng, centres, 800)
    logits = features @ rng.normal(size=(8, 4))
    reference = DetectorInputs(softmax(logits, axis=1), logits, features)
    far = rng.normal(0, 1, (200, 8)) * 0.1  # the origin: between every class
    far_inputs = DetectorInputs(np.full((200, 4), 0.25), np.zeros((200, 4)), far)
    for name in ("msp", "energy", "mahalanobis"):
        detector = DETECTORS[name]().fit(reference, labels)
        assert np.median(detector.score(far_inputs)) > np.median(detector.score(reference)), name


def test_mahalanobis_score_is_the_distance_to_the_nearest_class_mean():
    rng = np.random.default_rng(1)
    features, labels = clusters(rng, rng.normal(0, 5, (3, 6)), 300)
    detector = DETECTORS["mahalanobis"]().fit(DetectorInputs(np.ones((300, 1)), features=features), labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(3)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    precision = np.linalg.inv(covariance + np.eye(6) * 1e-3 * np.trace(covariance) / 6)
    probes = rng.normal(0, 6, (20, 6))
    expected = [min(mahalanobis(x, m, precision) for m in means) for x in probes]
    assert detector.score(DetectorInputs(np.ones((20, 1)), features=probes)) == pytest.approx(expected, rel=1e-9)

def test_reconstruction_detector_is_deterministic_and_alarms_on_what_it_never_saw():
    signs = appearance(np.stack([render_sign(i % 43, i, 32).image for i in range(600)]))
    noise = np.random.default_rng(0).integers(0, 256, (100, 16, 16, 3), dtype=np.uint8)
    reference, held_out = DetectorInputs(np.ones((500, 1)), images=signs[:500]), signs[500:]
    detector = DETECTORS["reconstruction"]().fit(reference, labels=np.zeros(500, int))
    scores_in = detector.score(DetectorInputs(np.ones((100, 1)), images=held_out))
    scores_out = detector.score(DetectorInputs(np.ones((100, 1)), images=noise))
    assert auroc(scores_in, scores_out) > 0.95
    again = DETECTORS["reconstruction"]().fit(reference, labels=np.zeros(500, int))
    assert np.array_equal(again.score(DetectorInputs(np.ones((100, 1)), images=noise)), scores_out)
    restored = DETECTORS["reconstruction"]().restore(detector.state())
    assert np.array_equal(restored.score(DetectorInputs(np.ones((100, 1)), images=noise)), scores_out)


@pytest.fixture(scope="module")
def tiny_vae_fit():
    """A VAE fitted on 500 rendered signs, with 100 held-out signs and 100 frames of uniform noise (16x16)."""
    signs = appearance(np.stack([render_sign(i % 43, i, 32).image for i in range(600)]))
    noise = np.random.default_rng(0).integers(0, 256, (100, 16, 16, 3), dtype=np.uint8)
    reference = DetectorInputs(np.ones((500, 1)), images=signs[:500])
    detector = DETECTORS["vae"]().fit(reference, labels=np.zeros(500, int))
    return detector, reference, DetectorInputs(np.ones((100, 1)), images=signs[500:]), \
        DetectorInputs(np.ones((100, 1)), images=noise)


def test_vae_score_is_the_negative_elbo_a_finite_reconstruction_term_plus_a_nonnegative_kl(tiny_vae_fit):
    detector, _, held_out, noise = tiny_vae_fit
    for inputs in (held_out, noise):
        reconstruction, kl = detector.elbo_terms(inputs)
        assert np.all(np.isfinite(reconstruction)) and np.all(kl >= 0)
        assert detector.score(inputs) == pytest.approx(reconstruction + kl, rel=1e-12)
    # the Gaussian decoder's scale is the fitting data's RMS error, so there the reconstruction
    # term per pixel is log(sigma sqrt(2 pi)) + 1/2 on average
    sigma = detector.decoder_scale
    fitted_reconstruction, _ = detector.elbo_terms(tiny_vae_fit[1])
    assert np.mean(fitted_reconstruction) / (16 * 16 * 3) == pytest.approx(np.log(sigma * np.sqrt(2 * np.pi)) + 0.5,
                                                                            rel=1e-4)


def test_vae_scores_what_it_never_saw_above_what_it_was_fitted_on(tiny_vae_fit):
    detector, _, held_out, noise = tiny_vae_fit
    assert auroc(detector.score(held_out), detector.score(noise)) > 0.95
    assert np.min(detector.score(noise)) > np.max(detector.score(held_out))


def test_vae_is_deterministic_from_fit_to_score_and_through_its_cached_state(tiny_vae_fit):
    detector, reference, _, noise = tiny_vae_fit
    scores = detector.score(noise)
    assert np.array_equal(detector.score(noise), scores)
    assert np.array_equal(DETECTORS["vae"]().fit(reference, labels=np.zeros(500, int)).score(noise), scores)
    assert np.array_equal(DETECTORS["vae"]().restore(detector.state()).score(noise), scores)


@pytest.mark.parametrize("name, missing", [("mahalanobis", "features"), ("reconstruction", "images"),
                                           ("vae", "images")])
def test_detectors_without_their_inputs_say_why(name, missing):
    assert missing in DETECTORS[name]().unavailable_reason(DetectorInputs(np.full((2, 2), 0.5)))


def test_energy_uses_logits_when_given_and_says_so_otherwise():
    logits = np.array([[2.0, 0.0, -1.0]])
    energy = DETECTORS["energy"]()
    with_logits = DetectorInputs(softmax(logits, axis=1), logits)
    without = DetectorInputs(softmax(logits, axis=1))
    assert energy.score(with_logits) == pytest.approx(-np.log(np.exp(logits).sum()))
    assert energy.score(without) == pytest.approx(-log_softmax(logits, axis=1).max())
    assert energy.source(with_logits) == "logits" and "no logits" in energy.source(without)


def test_drift_bound_covers_the_statistic_and_flags_a_shift():
    rng = np.random.default_rng(0)
    same = ks_drift(rng.normal(size=1000), rng.normal(size=1000))
    shifted = ks_drift(rng.normal(size=1000), rng.normal(0.5, 1, size=1000))
    assert same.statistic <= ks_distance_upper_bound(same) < 0.15
    assert shifted.p_value < 1e-6 < same.p_value
    assert ks_distance_upper_bound(shifted) > 0.15
    with pytest.raises(ValueError, match="ingest_scores"):
        ks_drift([1.0], [])


def test_scores_squeezed_into_one_histogram_bin_are_told_apart_from_spread_ones():
    rng = np.random.default_rng(0)
    # saturated scores far from the alarm threshold: all the mass in the first of the shared bins
    saturated = rng.uniform(0, 1e-3, size=500), rng.uniform(0, 1e-3, size=500)
    assert occupied_histogram_bins(*saturated, threshold=0.9) == 1
    assert occupied_histogram_bins(*saturated, threshold=1e-3) > 1
    spread = rng.normal(size=500), rng.normal(size=500)
    assert 10 < occupied_histogram_bins(*spread, threshold=0.0) <= HISTOGRAM_BINS
    assert occupied_histogram_bins([0.5], [0.5], threshold=0.5) == 1


def test_ood_sets_are_deterministic_and_sized_for_the_model():
    first = bundled_ood_sets((30, 40), per_set=5, seed=3)
    again = bundled_ood_sets((30, 40), per_set=5, seed=3)
    other = bundled_ood_sets((30, 40), per_set=5, seed=4)
    assert tuple(s.name for s in first) == OOD_SET_NAMES
    assert {s.kind for s in first} == {"far", "near"}
    for a, b, _ in zip(first, again, other):
        assert a.images.shape == (5, 30, 40, 3) and a.images.dtype == np.uint8
        assert np.array_equal(a.images, b.images)
    assert any(not np.array_equal(a.images, c.images) for a, c in zip(first, other))


def test_a_subset_of_the_ood_sets_is_drawn_as_in_the_full_draw():
    full = {s.name: s.images for s in bundled_ood_sets((30, 40), per_set=5, seed=3)}
    subset = bundled_ood_sets((30, 40), per_set=5, seed=3, names=("destroyed_signs", "textures"))
    assert [s.name for s in subset] == ["textures", "destroyed_signs"]
    assert all(np.array_equal(s.images, full[s.name]) for s in subset)


@pytest.mark.parametrize(("n_in", "n_out", "shift"), [(400, 250, 1.0), (1500, 500, 2.0), (60, 40, 0.3)])
def test_delong_bound_agrees_with_the_bootstrap_it_replaces(n_in, n_out, shift):
    generator = np.random.default_rng(n_in)
    scores_in, scores_out = generator.normal(size=n_in), generator.normal(shift, 1, size=n_out)
    separation = auroc_delong(scores_in, scores_out, ">=", 0.95)
    assert separation.auroc == pytest.approx(auroc(scores_in, scores_out))
    bootstrap = bootstrap_bound(auroc, [(scores_in,), (scores_out,)], ">=", 0.95, n_resamples=2000, seed=3)
    assert separation.bound == pytest.approx(bootstrap, abs=0.4 * separation.standard_error)
    ceiling = auroc_delong(scores_in, scores_out, "<=", 0.95)
    assert ceiling.bound - separation.auroc == pytest.approx(separation.auroc - separation.bound)


def test_delong_variance_matches_the_placement_values_computed_pair_by_pair():
    scores_in, scores_out = np.array([0.1, 0.4, 0.4, 0.8]), np.array([0.4, 0.5, 0.9])
    pairs = (scores_out[:, None] > scores_in[None, :]) + 0.5 * (scores_out[:, None] == scores_in[None, :])
    variance = pairs.mean(axis=1).var(ddof=1) / 3 + pairs.mean(axis=0).var(ddof=1) / 4
    separation = auroc_delong(scores_in, scores_out)
    assert separation.auroc == pytest.approx(pairs.mean())
    assert separation.standard_error == pytest.approx(np.sqrt(variance))


def test_delong_perfect_separation_and_too_few_scores():
    # no variance to estimate: 3 disjoint pairs, all ranked right, bound (1 - 0.95) ** (1 / 3)
    assert auroc_delong([0, 1, 2], [3, 4, 5]) == AurocInterval(1.0, 0.0, pytest.approx(0.05 ** (1 / 3)))
    assert auroc_delong(np.arange(300), np.arange(300) + 300).bound == pytest.approx(0.05 ** (1 / 300))
    assert auroc_delong([3, 4, 5], [0, 1, 2], direction="<=").bound == pytest.approx(1 - 0.05 ** (1 / 3))
    lonely = auroc_delong([0.2], [0.5, 0.9])
    assert lonely.standard_error == np.inf and lonely.bound == 0.0


@pytest.mark.parametrize(("argument", "call"), [
    ("direction", lambda: auroc_delong([0, 1], [2, 3], direction=">")),
    ("confidence", lambda: auroc_delong([0, 1], [2, 3], confidence=1.0)),
    ("scores_in", lambda: auroc_delong([np.nan, 1], [2, 3]))])
def test_delong_validates_its_arguments(argument, call):
    with pytest.raises(ValueError, match=argument):
        call()
