"""Calibrate the trigger scan: its statistics on clean models against models with a planted backdoor.

    python tools/trigger_scan_table.py --scan --models-dir DIR   # 1-2 minutes a model
    python tools/trigger_scan_table.py                           # the table, from the record

With ``--scan``, runs the harness's trigger scan (the SR-TRIGGER-SCAN stage, default budget and
seed) on every model of the calibration set and records its statistics in
``safety_harness/backdoor/calibration.json``: the bundled reference model and shortcut twin, the
shared third-party models that load (on ``../shared/gtsrb/Final_Test``, each with its card from
``tests/shared_model_cards``), and the clean twins and planted models of ``tools/train_backdoor.py``
(on the test data each was measured on: the default ingest, or real test images for a model trained on
real images). Without it, prints the README's table and the flagging rule's false-alarm
and detection rates from that record.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety_harness.backdoor.flagging import (  # noqa: E402
    FlaggingRule,
    calibration_rates,
    flagged_class,
    scan_statistics,
)
from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper  # noqa: E402
from safety_harness.plan.plan import RunOptions, plan_run  # noqa: E402
from safety_harness.plan.requirements import load_requirements  # noqa: E402
from safety_harness.run.run import SafetyRun  # noqa: E402
from safety_harness.synthetic.default_ingest import ensure_default_ingest  # noqa: E402

RECORD = ROOT / "safety_harness" / "backdoor" / "calibration.json"
SHARED = ROOT.parent / "shared"
REQUIREMENTS = ROOT / "safety_tests" / "requirements.yaml"
#: the shared models the harness loads (jovanzac's 42 outputs are refused: GTSRB has 43 classes)
SHARED_MODELS = {"abis47": "abis47/traffic_classifier.h5", "nabagata": "nabagata/traffic_classifier.h5",
                 "nvarshi2004": "nvarshi2004/traffic_sign_model.keras", "ikreza_gray": "ikreza_gray/traffic_sign.hdf5"}


def calibration_set(models_dir: Path | None, cache_dir: Path):
    """(name, role, target class or None, model, card or None, ingest) of every model scanned."""
    ingest = ensure_default_ingest(cache_dir)
    bundled = ROOT / "model_under_test"
    yield "reference", "clean", None, bundled / "reference/gtsrb_reference.keras", None, ingest
    yield "shortcut twin", "clean", None, bundled / "shortcut/gtsrb_shortcut_twin.keras", None, ingest
    yield "shortcut (sticker, class 1)", "shortcut", 1, bundled / "shortcut/gtsrb_shortcut.keras", None, ingest
    final_test = SHARED / "gtsrb" / "Final_Test"
    for name, path in SHARED_MODELS.items():
        if (SHARED / "models" / path).exists() and final_test.exists():
            yield (f"shared {name}", "clean", None, SHARED / "models" / path,
                   ROOT / "tests" / "shared_model_cards" / f"{name}.yaml", final_test)
    if models_dir is not None:
        for name, trained in json.loads((models_dir / "backdoor_record.json").read_text()).items():
            role = "clean" if trained["trigger"] is None else "planted"
            test_data = Path(trained["test_data"]) if "test_data" in trained else ingest
            yield name, role, trained["target"], models_dir / f"{name}.keras", None, test_data


def scan(model, card, ingest, cache_dir: Path) -> dict:
    """The run's trigger scan of ``model`` on ``ingest``, as SR-TRIGGER-SCAN runs it, and what it cost."""
    plan = plan_run(RunOptions(model_path=model, card_path=card, ingest_path=ingest, requirements_path=REQUIREMENTS,
                               cache_dir=cache_dir))
    run = SafetyRun(plan.selected(["SR-TRIGGER-SCAN"]))
    if run.model.gradients_unavailable_reason:
        return {"skipped": run.model.gradients_unavailable_reason}
    started = time.perf_counter()
    result = run.trigger_scan.result
    search = result.search
    return {"norms": [round(float(v), 3) for v in search.norms],
            "success_rates": [round(float(v), 4) for v in search.success_rates],
            "sign_area": round(result.sign_area, 2), "steps": search.steps, "converged": search.converged,
            "seconds": round(time.perf_counter() - started, 1), "cpu_seconds": result.cpu_seconds,
            # per epoch: the smallest and the median kept norm (None before every class is reached and penalised)
            "history": [[None if np.isnan(v) else round(float(v), 3) for v in epoch] for epoch in search.history]}


def bundled_rule() -> FlaggingRule:
    """The rule of the bundled SR-TRIGGER-SCAN requirement."""
    (requirement,) = [r for r in load_requirements(REQUIREMENTS) if r.id == "SR-TRIGGER-SCAN"]
    return FlaggingRule(**requirement.parameters)


def table(record: dict, rule: FlaggingRule) -> str:
    """The README's per-model table and the rule's rates on the clean and planted sets."""
    lines = ["| model | set | target | smallest norm (class) | median | min/median | min/next | share of sign | success "
             "| anomaly index | steps | flagged |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in record.items():
        target = "" if entry["target"] is None else entry["target"]
        if "skipped" in entry:
            lines.append(f"| {name} | {entry['role']} | {target} | not scanned: {entry['skipped']} | | | | | | | | |")
            continue
        stats = scan_statistics(entry["norms"], entry["success_rates"], entry["sign_area"])
        flagged = flagged_class(stats, rule)
        steps = f"{entry['steps']}{'' if entry['converged'] else ' (budget)'}"
        lines.append(f"| {name} | {entry['role']} | {target} | {stats.smallest_norm:.1f} ({stats.smallest_class}) "
                     f"| {stats.median_norm:.1f} | {stats.ratio:.2f} | {stats.next_ratio:.2f} | {stats.sign_share:.3f} | {stats.success:.2f} "
                     f"| {stats.anomaly_index:.2f} | {steps} | {'' if flagged is None else flagged} |")
    rates = calibration_rates(rule, record)
    lines += ["", f"Rule: {rule}: false alarms on {rates.false_alarms} of {rates.clean_models} clean models (one-sided "
              f"95 % upper bound {clopper_pearson_upper(rates.false_alarms, rates.clean_models):.2f}); "
              f"{rates.detections} of {rates.planted_models} planted backdoors flagged naming their target class "
              f"(one-sided 95 % lower bound {clopper_pearson_lower(rates.detections, rates.planted_models):.2f})."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan", action="store_true", help="run the scans (minutes a model) and record them")
    parser.add_argument("--models-dir", type=Path, help="the output folder of tools/train_backdoor.py")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache")
    parser.add_argument("--only", nargs="*", help="scan only these models (by name)")
    args = parser.parse_args()
    if args.scan:
        for name, role, target, model, card, ingest in calibration_set(args.models_dir, args.cache_dir):
            if args.only and name not in args.only:
                continue
            entry = {"role": role, "target": target, "ingest": ingest.name, **scan(model, card, ingest, args.cache_dir)}
            print(name, json.dumps({k: v for k, v in entry.items() if k != "history"}), flush=True)
            record = {**(json.loads(RECORD.read_text()) if RECORD.exists() else {}), name: entry}
            RECORD.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in record.items())
                              + "\n}\n")  # a line a model
    print(table(json.loads(RECORD.read_text()), bundled_rule()))


if __name__ == "__main__":
    main()
