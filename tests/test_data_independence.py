"""SR-DATA-INDEPENDENCE on real GTSRB tracks: other tracks of the same classes are no leak; frames copied
at 32x32 into the training data fail the requirement, naming both files of each leaking pair. (A clean
split of four classes cannot pass: 0 leaks in 8 groups bound the rate at 31 %, insufficient evidence
for 1 %, and the whole of Train_Tracks has 86 tracks per half.)"""

import shutil

import cv2
import pytest

CLASSES = (1, 13, 14, 38)


@pytest.fixture(scope="session")
def track_split(shared_path, tmp_path_factory):
    """Four classes of ../shared/gtsrb/Train_Tracks in class folders: tracks 2 and 3 as the ingest, 0 and 1
    as a clean reference, and the reference plus a third of the ingest's frames at 32x32 as a leaky one."""
    source = shared_path("gtsrb", "Train_Tracks")
    root = tmp_path_factory.mktemp("track_split")
    copied = []
    for class_id in CLASSES:
        for part in ("ingest", "clean", "leaky"):
            (root / part / str(class_id)).mkdir(parents=True)
        for position, path in enumerate(sorted((source / str(class_id)).glob("*.png"))):
            if int(path.name[:5]) >= 2:
                shutil.copyfile(path, root / "ingest" / str(class_id) / path.name)
                if position % 3 == 0:
                    small = cv2.resize(cv2.imread(str(path)), (32, 32), interpolation=cv2.INTER_AREA)
                    cv2.imwrite(str(root / "leaky" / str(class_id) / f"copy_{path.name}"), small)
                    copied.append(f"{class_id}/{path.name}")
            else:
                for part in ("clean", "leaky"):
                    shutil.copyfile(path, root / part / str(class_id) / path.name)
    return root, copied


def test_frames_copied_into_the_training_data_fail_naming_each_pair_while_other_tracks_do_not(
        run_safety_suite, track_split):
    """One run: the reference holds other tracks of the same classes (no pair may come from it), the
    training data those tracks plus a third of the ingest's frames at 32x32 (each must be named)."""
    root, copied = track_split
    run = run_safety_suite("--ingest", str(root / "ingest"), "--reference", str(root / "clean"),
                           "--training-data", str(root / "leaky"), "-k", "SR-DATA-INDEPENDENCE", name="leaky")
    (case,) = run.evidence["requirements"]
    assert case["id"] == "SR-DATA-INDEPENDENCE" and case["verdict"] == "fail" and run.returncode != 0, run.output
    pairs = case["details"]["leaking_pairs"]
    assert {pair["data"] for pair in pairs} == {"training data"}
    assert {(name, name.replace("/", "/copy_")) for name in copied} <= {
        (pair["ingest_file"], pair["matching_file"]) for pair in pairs}
    assert case["successes"] >= 0.8 * case["n"]  # a group split off a track may hold no copied frame
    assert len(case["details"]["compared_with"]) == 2
    # a second run reads the pairs from the store: no image decoded or compared again, the same evidence
    again = run_safety_suite("--ingest", str(root / "ingest"), "--reference", str(root / "clean"),
                             "--training-data", str(root / "leaky"), "-k", "SR-DATA-INDEPENDENCE", name="leaky_again")
    assert again.evidence["requirements"] == run.evidence["requirements"]
    stored = {stage: outcome for stage, outcome in again.evidence["predictions_from"].items()
              if stage.startswith("near-duplicates of the ingest")}
    assert sorted(stored.values()) == ["cache", "cache"], again.evidence["predictions_from"]
