"""Groups of dependent images and near-duplicates estimated from image similarity: the targets of
issue 19 on real GTSRB tracks (names hidden), the leakage check, and the functions' contracts."""

import cv2
import numpy as np
import pytest

from safety_harness.ingest.similarity_groups import (
           adjusted_rand_index,
           estimate_groups,
           image_descriptors,
           near_duplicate_pairs,
)


def smooth_pattern(seed: int, size: int = 200) -> np.ndarray:
    """A seeded RGB image of low-frequency colour blobs: something a grouping must tell apart from
    another seed's pattern."""
    coarse = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def approach(pattern: np.ndarray, sizes) -> list:
    """``pattern`` as seen while approaching it: the same scene at growing sizes."""
    return [cv2.resize(pattern, (size, size), interpolation=cv2.INTER_AREA) for size in sizes]


@pytest.fixture(scope="session")
def train_tracks(shared_path):
    """The 5,160 images of ../shared/gtsrb/Train_Tracks (RGB, original sizes), their classes and their
    true tracks (class * 100 + the file name's TTTTT), decoded once per session."""
    folder = shared_path("gtsrb", "Train_Tracks")
    images, labels, tracks = [], [], []
    for class_folder in sorted(folder.iterdir(), key=lambda path: int(path.name)):
        for path in sorted(class_folder.glob("*.png")):
            images.append(np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]))
            labels.append(int(class_folder.name))
            tracks.append(int(class_folder.name) * 100 + int(path.name[:5]))
    return images, np.array(labels), np.array(tracks)


def resized_to_32(images) -> list:
    return [cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA) for image in images]


@pytest.mark.parametrize("resolution", ["original", "32x32"])
def test_train_tracks_grouping_meets_the_issue_targets(train_tracks, resolution):
    images, labels, tracks = train_tracks
    groups = estimate_groups(images if resolution == "original" else resized_to_32(images), labels)
    assert adjusted_rand_index(tracks, groups) >= 0.85
    ratios = [len(np.unique(groups[labels == label])) / len(np.unique(tracks[labels == label]))
              for label in np.unique(labels)]
    assert np.mean([0.67 <= ratio <= 1.5 for ratio in ratios]) >= 0.9
    assert all(len(np.unique(labels[groups == group])) == 1 for group in np.unique(groups))


def test_train_tracks_grouping_is_deterministic(train_tracks):
    images, labels, _ = train_tracks
    chosen = np.flatnonzero(labels < 8)
    subset = [images[i] for i in chosen]
    first = estimate_groups(subset, labels[chosen], seed=0)
    np.testing.assert_array_equal(first, estimate_groups(subset, labels[chosen], seed=0))
    np.testing.assert_array_equal(first, estimate_groups(subset, labels[chosen], seed=5))


def split_by_track(tracks):
    """Two tracks per class as reference, the other two as ingest."""
    return np.flatnonzero(tracks % 100 < 2), np.flatnonzero(tracks % 100 >= 2)


def test_a_split_by_track_shows_no_leak_across_resolutions(train_tracks):
    images, _, tracks = train_tracks
    reference, ingest = split_by_track(tracks)
    pairs = near_duplicate_pairs([images[i] for i in ingest], resized_to_32([images[i] for i in reference]))
    assert len(pairs) == 0
    leaking_tracks = np.unique(tracks[ingest][pairs["index_a"]])
    assert len(leaking_tracks) / len(np.unique(tracks[ingest])) < 0.01


@pytest.mark.parametrize("trim, found", [(0.0, 1.0), (0.05, 0.9)])
def test_frames_copied_into_the_reference_are_flagged_naming_them(train_tracks, trim, found):
    """A third of the ingest's frames, resized to 32x32 (and with ``trim`` of their box cut from every
    side), added to the reference: each copied frame is paired with its own copy, and every ingest
    track leaks. Every fourth class keeps the test short."""
    images, labels, tracks = train_tracks
    reference, ingest = (part[labels[part] % 4 == 0] for part in split_by_track(tracks))
    copied = ingest[::3]

    def trimmed(image):
        top, left = (int(round(trim * side)) for side in image.shape[:2])
        return image[top:image.shape[0] - top, left:image.shape[1] - left]

    leaky_reference = [images[i] for i in reference] + resized_to_32([trimmed(images[i]) for i in copied])
    source = np.concatenate([reference, copied])
    pairs = near_duplicate_pairs([images[i] for i in ingest], leaky_reference, labels_a=labels[ingest],
                                 labels_b=labels[source])
    source = source[pairs["index_b"]]
    flagged_copies = ingest[pairs["index_a"]][ingest[pairs["index_a"]] == source]
    assert len(flagged_copies) >= found * len(copied)
    assert (tracks[ingest][pairs["index_a"]] == tracks[source]).all()
    assert set(tracks[ingest][pairs["index_a"]]) == set(tracks[ingest])


def test_frames_of_one_scene_at_growing_sizes_form_one_group_per_scene():
    sizes = [25, 30, 36, 43, 52, 62, 75, 90, 108, 130, 160, 200]
    images = approach(smooth_pattern(1), sizes) + approach(smooth_pattern(2), sizes)
    groups = estimate_groups(images, np.zeros(len(images), dtype=int))
    assert adjusted_rand_index(np.repeat([0, 1], len(sizes)), groups) == 1.0


def test_unrelated_images_are_not_grouped_however_small_their_pool():
    noise = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(estimate_groups(noise, [3] * 5), np.arange(5))


def test_identical_images_share_a_group_within_a_label_only():
    image = smooth_pattern(3, 50)
    other = smooth_pattern(4, 50)
    groups = estimate_groups([image, other, image, image, other], [-1, -1, -1, 7, -1])
    assert groups[0] == groups[2] != groups[3]
    assert groups[1] == groups[4] != groups[0]


def test_descriptors_ignore_the_channel_order_and_the_resolution():
    image = smooth_pattern(5, 120)
    reference = image_descriptors([image])
    np.testing.assert_allclose(image_descriptors([image[..., [2, 0, 1]]]), reference, atol=1e-6)
    np.testing.assert_allclose(image_descriptors(resized_to_32([image])), reference, atol=1e-6)
    assert np.linalg.norm(reference) == pytest.approx(1.0, abs=1e-5)


def test_near_duplicate_pairs_name_each_image_with_its_closest_match():
    patterns = [smooth_pattern(seed, 64) for seed in range(10, 14)]
    pairs = near_duplicate_pairs([patterns[0], np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8),
                                  patterns[2]], resized_to_32([patterns[3], patterns[2], patterns[0]]))
    assert pairs["index_a"].tolist() == [0, 2]
    assert pairs["index_b"].tolist() == [2, 1]
    assert np.all(pairs["similarity"] > 0.99)


def test_near_duplicates_are_only_sought_within_a_class_when_both_sets_are_labelled():
    image = smooth_pattern(20, 48)
    assert len(near_duplicate_pairs([image], [image], labels_a=[1], labels_b=[2])) == 0
    assert len(near_duplicate_pairs([image], [image], labels_a=[1], labels_b=[-1])) == 1
    assert len(near_duplicate_pairs([image], [image])) == 1
    with pytest.raises(ValueError, match="both labels_a and labels_b"):
        near_duplicate_pairs([image], [image], labels_a=[1])


def test_empty_inputs_give_empty_results():
    assert estimate_groups([], []).shape == (0,)
    assert near_duplicate_pairs([], [smooth_pattern(1, 32)]).shape == (0,)


@pytest.mark.parametrize("images, labels, seed, message", [
    ([np.zeros((8, 8, 3), np.uint8)], [0, 1], 0, "one entry per image"),
    ([np.zeros((8, 8, 3), np.uint8)], [0.5], 0, "integers"),
    ([np.zeros((8, 8, 3), np.uint8)], [-2], 0, ">= -1"),
    ([np.zeros((8, 8, 3), np.float32)], [0], 0, "image 0 must be an \\(H, W, 3\\) uint8"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)], [0, 0], 0, "image 1 must be"),
    ([np.zeros((8, 8, 3), np.uint8)], [0], 1.5, "seed must be an int"),
])
def test_estimate_groups_rejects_bad_parameters(images, labels, seed, message):
    with pytest.raises(ValueError, match=message):
        estimate_groups(images, labels, seed=seed)


@pytest.mark.parametrize("threshold", [0, 1.5, -0.2, True])
def test_near_duplicate_pairs_rejects_a_threshold_outside_0_1(threshold):
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_pairs([smooth_pattern(1, 32)], [smooth_pattern(1, 32)], threshold=threshold)


@pytest.mark.parametrize("truth, estimate, expected", [
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),
    ([0, 0, 1, 1], [0, 0, 1, 2], 4 / 7),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
    ([0, 1, 2], [5, 6, 7], 1.0),
])
def test_adjusted_rand_index_known_values(truth, estimate, expected):
    assert adjusted_rand_index(truth, estimate) == pytest.approx(expected)


def test_adjusted_rand_index_rejects_partitions_of_different_items():
    with pytest.raises(ValueError, match="same length"):
        adjusted_rand_index([0, 1, 2], [0, 1])
