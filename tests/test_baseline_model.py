"""A gate against the released model (--baseline-model) on real signs of the GTSRB test set (../shared)."""

import re
from pathlib import Path

import pytest

from safety_harness.model_under_test.loading import file_sha256
from safety_harness.model_under_test.reference import BUNDLED_MODEL

CARDS = Path(__file__).parent / "shared_model_cards"
# the pairing is under test here: over the subset's estimated tracks, no discordant image at all leaves the
# within-track correlation unknown, so the bound counts one trial per track and decides no margin of 0.02
SELF_REQUIREMENTS = """version: 1
defaults: {independence: images}
requirements:
  - {id: SELF-STOP-REGRESSION, title: t, hazard: h, metric: regression, class: 14, condition: [clean, "fog:2"],
     threshold: 0.02, direction: "<="}
  - {id: SELF-ACCURACY-REGRESSION, title: t, hazard: h, metric: regression, threshold: 0.01, direction: "<="}
"""


def paired_results(evidence, metric):
    return [result for result in evidence["requirements"] if result["metric"] == metric]


def test_a_model_against_itself_passes_every_regression_with_no_discordant_image(run_safety_suite,
                                                                                  final_test_subset, tmp_path):
    requirements = tmp_path / "requirements.yaml"
    requirements.write_text(SELF_REQUIREMENTS)
    run = run_safety_suite(f"--ingest={final_test_subset}", f"--requirements={requirements}",
                           f"--baseline-model={BUNDLED_MODEL}", name="self-baseline")
    assert run.returncode == 0, run.output
    results = paired_results(run.evidence, "regression")
    assert [r["id"] for r in results] == ["SELF-STOP-REGRESSION@clean", "SELF-STOP-REGRESSION@fog:2",
                                          "SELF-ACCURACY-REGRESSION"]
    for result in results:
        assert result["verdict"] == "pass"
        assert result["details"]["discordant_images"] == []
        assert (result["value"], result["details"]["losses"], result["details"]["gains"]) == (0, 0, 0)
        assert result["details"]["baseline"]["sha256"] == file_sha256(BUNDLED_MODEL)
    assert [r["n"] for r in results] == [270, 270, 600]


def test_one_real_model_against_another_lists_the_discordant_stop_signs(run_safety_suite, final_test_subset,
                                                                       shared_path):
    candidate, baseline = shared_path("models", "abis47", "traffic_classifier.h5"), shared_path(
        "models", "nvarshi2004", "traffic_sign_model.keras")
    run = run_safety_suite(f"--ingest={final_test_subset}", f"--model={candidate}",
                           f"--model-card={CARDS / 'abis47.yaml'}", f"--baseline-model={baseline}",
                           f"--baseline-card={CARDS / 'nvarshi2004.yaml'}",
                           "-k", "(SR-STOP-REGRESSION and clean) or SR-STOP-AGREEMENT", name="abis47-against-nvarshi2004")
    assert run.returncode in (0, 1), run.output  # a verdict either way, never an error
    regression, = paired_results(run.evidence, "regression")
    agreement, = paired_results(run.evidence, "agreement")
    assert regression["verdict"] in ("pass", "fail", "insufficient_evidence")
    discordant = regression["details"]["discordant_images"]
    assert discordant, "two independently trained models disagree on some of 270 real stop signs"
    for image in discordant:
        assert image["true_class"] == 14
        assert (image["candidate_predicted"] == 14) != (image["baseline_predicted"] == 14)
    losses = sum(image["baseline_predicted"] == 14 for image in discordant)
    assert (regression["details"]["losses"], regression["details"]["gains"]) == (losses, len(discordant) - losses)
    assert regression["value"] == pytest.approx((2 * losses - len(discordant)) / 270, abs=1e-6)
    # agreement lists every stop sign read differently, the discordant ones among them
    disagreeing = {image["file"] for image in agreement["details"]["discordant_images"]}
    assert {image["file"] for image in discordant} <= disagreeing
    assert agreement["n"] - agreement["successes"] == len(disagreeing)
    assert agreement["details"]["baseline"]["card_path"] == str(CARDS / "nvarshi2004.yaml")
    # the report shows them with both predictions (the HTML escapes the arrows)
    first = discordant[0]
    assert re.search(rf"{Path(first['file']).name}: Stop \(14\); candidate -\S+ .+ \({first['candidate_predicted']}\), "
                     rf"baseline -\S+ .+ \({first['baseline_predicted']}\)", run.html)
