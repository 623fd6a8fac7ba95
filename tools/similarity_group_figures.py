"""Print the figures of the similarity grouping and the near-duplicate check on the shared GTSRB data.

    python tools/similarity_group_figures.py [--shared ../shared]

On ``gtsrb/Train_Tracks`` (class folders, 4 tracks per class, ``TTTTT_FFFFF.png``; the track names are
hidden from the grouping and used only to score it): the adjusted Rand index against the true tracks,
the share of classes whose group count lies within 0.67-1.5x the true track count, and the time, for
the original crops and for 32x32 copies. On ``gtsrb/Final_Test`` (32x32): the number of groups and the
stop signs' groups. Then the leakage check: two tracks per class as reference (at 32x32) against the
other two as ingest (original size), clean and with a third of the ingest's frames copied into the
reference; and every track split into its first and last 15 frames.
"""

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safety_harness.ingest.similarity_groups import (  # noqa: E402
           adjusted_rand_index,
           estimate_groups,
           near_duplicate_pairs,
)

STOP_SIGN = 14


def read_rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


def train_tracks(folder: Path):
    """Images, class labels and track ids (class * 100 + track) of the Train_Tracks layout."""
    images, labels, tracks = [], [], []
    for class_folder in sorted(folder.iterdir(), key=lambda path: int(path.name)):
        for path in sorted(class_folder.glob("*.png")):
            images.append(read_rgb(path))
            labels.append(int(class_folder.name))
            tracks.append(int(class_folder.name) * 100 + int(path.name[:5]))
    return images, np.array(labels), np.array(tracks)


def timed(function, *arguments):
    """``function(*arguments)`` and the wall and CPU seconds it took (the CPU time of all threads: on a
    shared machine the wall time says more about the other processes than about this one)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments)
    return result, f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU"


def grouping_figures(name: str, images, labels, tracks):
    groups, seconds = timed(estimate_groups, images, labels)
    classes = np.unique(labels)
    ratios = np.array([len(np.unique(groups[labels == c])) / len(np.unique(tracks[labels == c])) for c in classes])
    within = np.mean((ratios >= 0.67) & (ratios <= 1.5))
    print(f"Train_Tracks {name}: ARI {adjusted_rand_index(tracks, groups):.3f}, {len(np.unique(groups))} groups for "
          f"{len(np.unique(tracks))} tracks, classes with 0.67-1.5x the track count {within:.0%}, {seconds}")


def leakage_figures(images, small, labels, tracks):

    def flagged(ingest, reference, extra=()):
        reference = np.concatenate([reference, extra]).astype(np.int64)
        pairs = near_duplicate_pairs([images[i] for i in ingest], [small[i] for i in reference],
                                     labels_a=labels[ingest], labels_b=labels[reference])
        hits = np.zeros(len(ingest), dtype=bool)
        hits[pairs["index_a"]] = True
        return hits, pairs

    reference, ingest = np.flatnonzero(tracks % 100 < 2), np.flatnonzero(tracks % 100 >= 2)
    (hits, pairs), seconds = timed(flagged, ingest, reference)
    ingest_tracks = len(np.unique(tracks[ingest]))
    print(f"leakage, two tracks per class against the other two (reference at 32x32): "
          f"{len(np.unique(tracks[ingest][hits]))} of {ingest_tracks} ingest tracks with a near-duplicate, "
          f"{len(pairs)} pairs, {seconds}")
    copied = ingest[::3]
    hits, _ = flagged(ingest, reference, copied)
    print(f"leakage, a third of the ingest's frames copied at 32x32 into the reference: "
          f"{hits[np.isin(ingest, copied)].mean():.0%} of the copies' originals and "
          f"{hits[~np.isin(ingest, copied)].mean():.0%} of the other frames flagged, "
          f"{len(np.unique(tracks[ingest][hits]))} of {ingest_tracks} ingest tracks leaking")
    frames = np.arange(len(tracks)) - np.searchsorted(tracks, tracks)  # position within the track
    first_half, second_half = np.flatnonzero(frames < 15), np.flatnonzero(frames >= 15)
    hits, _ = flagged(second_half, first_half)
    print(f"leakage, each track's first 15 frames in the reference and its last 15 in the ingest: "
          f"{len(np.unique(tracks[second_half][hits]))} of {len(np.unique(tracks))} tracks flagged")


def final_test_figures(folder: Path):
    with open(folder / "GT-final_test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    images = [read_rgb(folder / "Images" / row["Filename"]) for row in rows]
    labels = np.array([int(row["ClassId"]) for row in rows])
    groups, seconds = timed(estimate_groups, images, labels)
    stop_sizes = np.sort(np.bincount(groups[labels == STOP_SIGN]))[::-1]
    stop_sizes = stop_sizes[stop_sizes > 0]
    print(f"Final_Test: {len(np.unique(groups))} groups for {len(images)} images ({seconds}); "
          f"{(labels == STOP_SIGN).sum()} stop signs in {len(stop_sizes)} groups of {stop_sizes.tolist()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    shared = parser.parse_args().shared / "gtsrb"
    images, labels, tracks = train_tracks(shared / "Train_Tracks")
    small = [cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA) for image in images]
    grouping_figures("original size", images, labels, tracks)
    grouping_figures("at 32x32", small, labels, tracks)
    final_test_figures(shared / "Final_Test")
    leakage_figures(images, small, labels, tracks)


if __name__ == "__main__":
    main()
