"""Benchmark: the safety suite against the physical floor of its work, on three workloads.

    python bench/run.py [--workload default|gtsrb|large-input|all] [--skip-4x]

Workloads: ``default``, the bundled 32x32 model on the default ingest and reference; ``gtsrb``, a third-party
30x30 model on GTSRB's Final_Test; ``large-input``, the reference network at 64x64 input (trained by
tools/train_reference.py on first use, cached in .cache/bench/ under its source's hash) on the default ingest and
reference rendered at the model's input size (the same seeds and counts, each image drawn at 64-128 px).

For each workload, in one run on one machine:
  * the whole suite cold (empty prediction cache) and warm (second run): wall time and each run's own peak RSS,
    and the cold run's wall time by stage (bench/stage_timing.py) with each stage's share;
  * the whole suite for a new model on data already seen (a CI gate's usual run): the workload's model saved
    again by its own library (the same network in a file of other bytes, so every stage keyed on the model is
    computed) into the warm run's cache, where what depends on the data alone (the reference's image
    detectors, the ingest's groups and near-duplicates, content hashes) is read back; with its stage times;
  * the floor: batched tf.function inference over every image variant the suite evaluates
    (clean, each perturbed condition on the images it reads, the stickered sets of the sticker-attraction
    requirement, reference data, OOD sets), and the generation of every perturbed variant, each timed alone;
  * ratios cold / floor and warm / cold; images per second per perturbation (one core);
  * the ingest's groups of dependent images and the leakage check (SR-DATA-INDEPENDENCE), computed afresh;
  * the trigger scan (SR-TRIGGER-SCAN, Neural Cleanse) as its own stage: wall and CPU seconds and steps
    at the default step budget, without the cache;
  * Clever-Hans discovery (SR-TRAINING-SHORTCUT, SpRAy) as its own stage on 1,012 training images (the bundled
    shortcut model's training renders at 32x32, 23 of every class and the class-1 copies; the large-input model
    reads them upscaled): wall seconds, without the cache;
  * for GTSRB, the cold suite with the test set repeated 4 times (wall time and peak RSS);
  * except for large-input (Ray's overhead does not depend on the input's size): the cold suite with the
    prediction stage on a local Ray instance of 2 workers (--ray-address=local), and one Ray worker's throughput
    (decode, perturb, forward pass of whole shards, in this process).
Prints a table and writes bench/results/latest.json. Targets: see issue 5 and README.md.
"""

import argparse
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from bench.peak_memory import run_measured  # noqa: E402
from safety_harness.core import tf_runtime  # noqa: E402
from safety_harness.ingest import FolderClasses, iter_image_batches, open_ingest  # noqa: E402
from safety_harness.model_under_test import load_model  # noqa: E402
from safety_harness.model_under_test.reference import BUNDLED_MODEL  # noqa: E402
from safety_harness.perturbations import get_perturbation, perturb_batch  # noqa: E402
from safety_harness.plan.plan import RunOptions, plan_run  # noqa: E402
from safety_harness.plan.requirements import CLEAN, Condition  # noqa: E402
from safety_harness.run.run import SafetyRun  # noqa: E402
from safety_harness.run.sticker_attraction import (  # noqa: E402
    ATTRACTION_STICKERS,
    IMAGES_PER_FAMILY,
    PLACEMENT_SEVERITIES,
)
from safety_harness.run.uncertainty import OOD_SET_SIZE  # noqa: E402
from safety_harness.synthetic import default_ingest  # noqa: E402
from safety_harness.synthetic.default_ingest import ensure_default_ingest, ensure_default_reference  # noqa: E402

REQUIREMENTS = ROOT / "safety_tests" / "requirements.yaml"
SHARED = ROOT.parent / "shared"
#: what the bench generates for itself (the large-input workload's model and data), kept between runs
BENCH_CACHE = ROOT / ".cache" / "bench"
TRAINING_TOOL = ROOT / "tools" / "train_reference.py"
#: the large-input workload's model: the reference network's shape at 64x64 input (one stage more), narrower
#: (16/32/48 filters, 64 features) and trained on fewer renders and epochs than the bundled model, in smaller
#: batches, so that it is made in minutes on 2 cores
LARGE_INPUT = 64
LARGE_MODEL_TRAINING = ("--input-size", str(LARGE_INPUT), "--per-class", "150", "--epochs", "8", "--batch-size", "32",
                        "--perturbed-share", "0.3", "--filters", "16", "32", "48", "--features", "64",
                        "--validation-per-class", "10")
#: the rest of a suite run's wall time beside the stages bench/stage_timing.py times
OUTSIDE_STAGES = "the rest: interpreter start, imports, planning, collection"


def run_suite(options, cache_dir) -> dict:
    """One `pytest` run in its own process: wall seconds, its own peak RSS (MiB, bench/peak_memory.py), exit code,
    and its seconds per stage (bench/stage_timing.py; the rest of its wall time under OUTSIDE_STAGES)."""
    with tempfile.TemporaryDirectory() as scratch:
        stages = Path(scratch) / "stages.json"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--cache-dir={cache_dir}",
                   f"--html={scratch}/report.html", "-p", "bench.stage_timing", f"--bench-stage-times={stages}",
                   *options]
        log = Path(scratch) / "output.log"
        with log.open("wb") as output:
            run = run_measured(command, cwd=ROOT, output=output)
        if run.exit_code not in (0, 1):  # 0: gate pass, 1: gate fail; anything else is not a measurement
            raise SystemExit(f"{' '.join(command)} exited with {run.exit_code}:\n{log.read_text()[-3000:]}")
        stage_seconds = json.loads(stages.read_text())
        stage_seconds[OUTSIDE_STAGES] = round(run.seconds - sum(stage_seconds.values()), 1)
        return {"seconds": run.seconds, "peak_rss_mib": run.peak_rss_mib, "exit_code": run.exit_code,
                "stage_seconds": stage_seconds}


def made_once(target: Path, make) -> Path:
    """``target``, made by ``make(folder)`` into a temporary sibling and moved into place when it is absent (a killed
    bench leaves no half-made folder that a later one would take as made)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        make(staging / "made")
        os.replace(staging / "made", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def large_input_workload(cache: Path) -> tuple[Path, Path, Path, Path]:
    """The large-input workload's model, its card, ingest and reference. The model is trained by
    tools/train_reference.py (LARGE_MODEL_TRAINING; seeded and deterministic) into a folder keyed on the tool's
    source and arguments; the ingest and reference are the default ones (seeds, counts) drawn at 64-128 px."""
    key = hashlib.sha256(TRAINING_TOOL.read_bytes() + " ".join(LARGE_MODEL_TRAINING).encode()).hexdigest()[:16]
    name = f"gtsrb_reference_{LARGE_INPUT}.keras"

    def train(folder: Path):
        folder.mkdir()
        command = [sys.executable, str(TRAINING_TOOL), *LARGE_MODEL_TRAINING, f"--output={folder / name}"]
        print(f"training the large-input workload's model (minutes): {' '.join(command[1:])}", flush=True)
        log = folder / "training.log"
        with log.open("wb") as output:
            trained = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        if trained.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited with {trained.returncode}:\n{log.read_text()[-3000:]}")

    model = made_once(cache / f"model-{key}", train) / name
    sizes = (LARGE_INPUT, 2 * LARGE_INPUT)
    data = []
    for per_class, stop_signs, generated in (
            (default_ingest.PER_CLASS, default_ingest.STOP_SIGNS, default_ingest.DEFAULT_INGEST),
            (default_ingest.REFERENCE_PER_CLASS, default_ingest.REFERENCE_PER_CLASS, default_ingest.DEFAULT_REFERENCE)):
        folder = cache / f"renders-v{default_ingest.GENERATOR_VERSION}-seed{generated.seed}-{sizes[0]}-{sizes[1]}px"
        data.append(made_once(folder, functools.partial(default_ingest.write_ingest, per_class=per_class,
                                                        stop_signs=stop_signs, seed=generated.seed, sizes=sizes)))
    return model, model.with_suffix(".yaml"), *data


def saved_again(model_path, card_path, folder: Path) -> tuple[Path, Path]:
    """The model at ``model_path`` saved again by the library the harness loads it with, into ``folder``, and its
    card beside it: the same network in a file whose SHA-256 differs, a new model to every cache key."""
    model = load_model(Path(model_path), None if card_path is None else Path(card_path))
    copy = folder / f"saved_again{Path(model_path).suffix}"
    model.network.save(copy)
    if hashlib.sha256(copy.read_bytes()).hexdigest() == model.sha256:
        raise SystemExit(f"{model_path} saved again has the same bytes: it would not be a new model to the harness")
    card = copy.with_suffix(".yaml")
    shutil.copyfile(model.card_path, card)
    return copy, card


def variants(plan, ingest):
    """(condition, ingest indices) of every image variant the plan's cases read: the conditions' and, with the
    sticker-attraction requirement, its stickered sets (a seeded sample of labelled images, as the stage draws
    it). The counterexample search's candidates are left out: how many it tries depends on what it finds."""
    everything = np.arange(len(ingest.records))
    read = [(CLEAN, everything)] + [
        (condition, everything if classes is None else np.flatnonzero(np.isin(ingest.labels, sorted(classes))))
        for condition, classes in plan.classes_per_condition.items()]
    if any(case.requirement.metric == "sticker_attraction" for case in plan.cases):
        labelled = np.flatnonzero(ingest.labels >= 0)
        sample = np.sort(np.random.default_rng(plan.options.seed).choice(labelled, min(IMAGES_PER_FAMILY, labelled.size),
                                                         replace=False))
        read += [(Condition(name, severity), sample) for name in ATTRACTION_STICKERS
                 for severity in PLACEMENT_SEVERITIES]
    return read


def floor(model_path, card_path, ingest_path, reference_path) -> dict:
    """Raw inference over every variant and perturbation generation, each timed alone."""
    card_path = None if card_path is None else Path(card_path)
    plan = plan_run(RunOptions(model_path=Path(model_path), card_path=card_path, ingest_path=Path(ingest_path),
                               requirements_path=REQUIREMENTS,
                               reference_path=None if reference_path is None else Path(reference_path)))
    model = load_model(Path(model_path), card_path)
    module = tf_runtime.keras() if model.loader == "keras" else tf_runtime.tf_keras()
    network = module.models.load_model(model_path, compile=False)
    tf = tf_runtime.tensorflow()
    forward = tf.function(lambda x: network(x, training=False), reduce_retracing=True)
    card = model.card
    folder_classes = FolderClasses(tuple(card.class_names))
    ingest = open_ingest(ingest_path, folder_classes)
    decoded = [b for b in iter_image_batches(ingest, card.size, card.interpolation, 256)]
    images = np.concatenate([b.images for b in decoded])
    rois = np.concatenate([b.rois for b in decoded])
    reference_count = 0 if reference_path is None or not plan.needs_uncertainty else len(
        open_ingest(reference_path, folder_classes).records)

    generation, per_perturbation = 0.0, {}
    total_variants = reference_count + len(plan.ood_sets_needed) * OOD_SET_SIZE
    for condition, indices in variants(plan, ingest):
        total_variants += len(indices)
        if condition.is_clean:
            continue
        perturbation, severity = get_perturbation(condition.name), condition.severity
        started = time.perf_counter()
        for i in range(0, len(indices), 256):
            chosen = indices[i:i + 256]
            perturb_batch(perturbation, images[chosen], severity, 0, rois[chosen])
        seconds = time.perf_counter() - started
        generation += seconds
        rate = per_perturbation.setdefault(perturbation.name, [0, 0.0])
        rate[0] += len(indices)
        rate[1] += seconds

    batch = preprocess_like(model, images[:256])
    forward(batch)  # trace once, as the suite does
    started = time.perf_counter()
    done = 0
    while done < total_variants:
        forward(batch[:min(256, total_variants - done)]).numpy()
        done += 256
    inference = time.perf_counter() - started
    return {"variants": int(total_variants), "raw_inference_seconds": round(inference, 1),
            "perturbation_seconds": round(generation, 1),
            "perturbation_images_per_second": {name: round(n / s) for name, (n, s) in sorted(per_perturbation.items())}}


def trigger_scan(model_path, card_path, ingest_path) -> dict:
    """The trigger scan alone on the workload's model and ingest, at the default step budget, computed afresh."""
    plan = plan_run(RunOptions(model_path=Path(model_path), card_path=None if card_path is None else Path(card_path),
                               ingest_path=Path(ingest_path), requirements_path=REQUIREMENTS))
    run = SafetyRun(plan.selected(["SR-TRIGGER-SCAN"]))
    run.clean  # noqa: B018 — predicted before the clock starts: the scan's own cost only
    started = time.perf_counter()
    scan = run.trigger_scan.result
    return {"seconds": round(time.perf_counter() - started, 1), "cpu_seconds": scan.cpu_seconds,
            "steps": scan.search.steps, "max_steps": scan.max_steps, "converged": scan.search.converged}


def grouping_and_leakage(model_path, card_path, ingest_path, reference_path) -> dict:
    """The ingest's groups of dependent images and its near-duplicates in the reference (SR-DATA-INDEPENDENCE),
    computed afresh (no cache): the groups from the ingest's own naming where it has one, else estimated from image
    similarity (Final_Test has no track ids), then the leakage comparison."""
    plan = plan_run(RunOptions(model_path=Path(model_path), card_path=None if card_path is None else Path(card_path),
                               ingest_path=Path(ingest_path), requirements_path=REQUIREMENTS,
                               reference_path=None if reference_path is None else Path(reference_path)))
    run = SafetyRun(plan.selected(["SR-DATA-INDEPENDENCE"]))
    started = time.perf_counter()
    groups = run.groups(run.ingest)
    grouped = time.perf_counter()
    leakage = run.data_independence.leakage
    return {"grouping_seconds": round(grouped - started, 1), "groups": int(np.unique(groups.ids).size),
            "groups_source": groups.source, "leakage_seconds": round(time.perf_counter() - grouped, 1),
            "leaking_groups": leakage.rate.successes}


#: renders of every class in the training data the SpRAy stage is timed on (23 x 43 + 23 class-1 copies = 1,012)
SPRAY_PER_CLASS = 23


def training_shortcut(model_path, card_path, ingest_path) -> dict:
    """SpRAy over 1,012 training images (tools/train_shortcut.py's renders) with the workload's model, computed
    afresh: the explainers' self-checks on the ingest first, then the clock over the maps and the clustering."""
    from tools.train_shortcut import write_training_data

    with tempfile.TemporaryDirectory() as scratch:
        training = write_training_data(Path(scratch) / "training", True, SPRAY_PER_CLASS)
        plan = plan_run(RunOptions(model_path=Path(model_path),
                                   card_path=None if card_path is None else Path(card_path),
                                   ingest_path=Path(ingest_path), training_data_path=training,
                                   requirements_path=ROOT / "safety_tests" / "training_shortcut.yaml"))
        run = SafetyRun(plan)
        run.explanations.figures  # noqa: B018 — self-checked before the clock starts: the stage's own cost only
        started = time.perf_counter()
        result = run.training_shortcut.result
        return {"seconds": round(time.perf_counter() - started, 1), "images": result.images,
                "explainer": result.explainer}


def preprocess_like(model, images):
    from safety_harness.model_under_test.inference import preprocess

    return preprocess(images, model.card)


def repeated_ingest(source: Path, times: int, folder: Path) -> Path:
    """The GTSRB test layout with every image listed ``times`` times (copies under new names: the
    harness refuses links that resolve outside the ingest)."""
    header, *rows = (source / "GT-final_test.csv").read_text().splitlines()
    (folder / "Images").mkdir(parents=True)
    out = [header]
    for copy in range(times):
        for row in rows:
            name, rest = row.split(";", 1)
            new = f"{copy}_{name}"
            shutil.copyfile(source / "Images" / name, folder / "Images" / new)
            out.append(f"{new};{rest}")
    (folder / "GT-final_test.csv").write_text("\n".join(out) + "\n")
    return folder


def worker_throughput(model_path, card_path, ingest_path) -> dict:
    """Images per second of one Ray worker's work (safety_harness/run/distributed.py) on clean shards
    and on shards under the plan's slowest-to-generate perturbation, measured in this process."""
    from safety_harness.plan.conditions import Condition
    from safety_harness.run.distributed import SHARD_BATCHES, ShardPredictor, WorkerSetup
    from safety_harness.run.prediction_cache import code_fingerprint

    model = load_model(Path(model_path), None if card_path is None else Path(card_path))
    folder_classes = FolderClasses(tuple(model.card.class_names))
    ingest = open_ingest(ingest_path, folder_classes)
    indices = np.arange(min(len(ingest.records), 256 * SHARD_BATCHES * 2))
    with tempfile.TemporaryDirectory() as store:
        worker = ShardPredictor(WorkerSetup(Path(model_path), None if card_path is None else Path(card_path),
                                            model.card, False, Path(ingest_path), 256, 0, Path(store),
                                            folder_classes=folder_classes, records_sha256=ingest.order_sha256,
                                            code_fingerprint=code_fingerprint()))
        rates = {}
        for condition in ("clean", "rain:2"):
            started = time.perf_counter()
            worker.predict(condition, indices, f"bench-{condition}")
            rates[str(Condition.parse(condition))] = round(indices.size / (time.perf_counter() - started))
    return rates


def workload(name, options, model, card, ingest, reference, skip_4x, ray=True) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as scratch:
        cold = run_suite(options, cache)
        warm = run_suite(options, cache)
        copy, copy_card = saved_again(model, card, Path(scratch))
        new_model = run_suite([o for o in options if not o.startswith(("--model=", "--model-card="))]
                              + [f"--model={copy}", f"--model-card={copy_card}"], cache)
    figures = {"cold": cold, "warm": warm, "cold_new_model": new_model}
    if ray:
        with tempfile.TemporaryDirectory() as cache:
            figures["ray_local_cold"] = run_suite(
                [*options, "--ray-address=local", "--ray-workers=2", f"--ray-store={cache}/shards"], cache)
        figures["ray_worker_images_per_second"] = worker_throughput(model, card, ingest)
    figures |= {**floor(model, card, ingest, reference), "trigger_scan": trigger_scan(model, card, ingest),
               "grouping_and_leakage": grouping_and_leakage(model, card, ingest, reference),
               "training_shortcut": training_shortcut(model, card, ingest)}
    base = figures["raw_inference_seconds"] + figures["perturbation_seconds"]
    figures["cold_over_floor"] = round(cold["seconds"] / base, 2)
    # the trigger scan is an optimisation, not forward passes over image variants: the floor does not count it
    figures["cold_without_trigger_scan_over_floor"] = round((cold["seconds"] - figures["trigger_scan"]["seconds"])
                                                            / base, 2)
    figures["cold_new_model_over_floor"] = round(new_model["seconds"] / base, 2)
    figures["warm_over_cold"] = round(warm["seconds"] / cold["seconds"], 3)
    figures["cold_stage_shares"] = {stage: round(seconds / cold["seconds"], 3)
                                    for stage, seconds in cold["stage_seconds"].items()}
    figures["cold_new_model_stage_shares"] = {stage: round(seconds / new_model["seconds"], 3)
                                              for stage, seconds in new_model["stage_seconds"].items()}
    if name == "gtsrb" and not skip_4x:
        with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as cache:
            big = repeated_ingest(Path(ingest), 4, Path(scratch) / "x4")
            figures["cold_4x"] = run_suite([o for o in options if not o.startswith("--ingest")] + [f"--ingest={big}"],
                                           cache)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=("default", "gtsrb", "large-input", "all"), default="all")
    parser.add_argument("--skip-4x", action="store_true", help="skip the 4x GTSRB memory run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
               "date": time.strftime("%Y-%m-%d"), "workloads": {}}
    if args.workload in ("default", "all"):
        ingest, reference = ensure_default_ingest(ROOT / ".cache"), ensure_default_reference(ROOT / ".cache")
        results["workloads"]["default"] = workload(
            "default", [f"--ingest={ingest}", f"--reference={reference}"], str(BUNDLED_MODEL), None, ingest, reference,
            args.skip_4x)
    if args.workload in ("gtsrb", "all"):
        model, card = SHARED / "models" / "abis47" / "traffic_classifier.h5", ROOT / "tests" / "shared_model_cards" / "abis47.yaml"
        ingest = SHARED / "gtsrb" / "Final_Test"
        if not model.exists() or not ingest.exists():
            print(f"skipping the GTSRB workload: {model} or {ingest} is absent")
        else:
            results["workloads"]["gtsrb"] = workload(
                "gtsrb", [f"--model={model}", f"--model-card={card}", f"--ingest={ingest}"], str(model), card, ingest,
                None, args.skip_4x)
    if args.workload in ("large-input", "all"):
        model, card, ingest, reference = large_input_workload(BENCH_CACHE)
        results["workloads"]["large-input"] = workload(
            "large-input", [f"--model={model}", f"--model-card={card}", f"--ingest={ingest}", f"--reference={reference}"],
            str(model), card, ingest, reference, args.skip_4x, ray=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'workload':11} {'cold s':>8} {'warm s':>8} {'new model s':>11} {'floor s':>8} {'cold/floor':>10} "
          f"{'w/o scan':>8} {'new/floor':>9} {'warm/cold':>9} {'peak MiB':>9} {'4x MiB':>7} {'ray s':>7}")
    for name, f in results["workloads"].items():
        base = f["raw_inference_seconds"] + f["perturbation_seconds"]
        ray_seconds = f"{f['ray_local_cold']['seconds']:7.1f}" if "ray_local_cold" in f else f"{'-':>7}"
        print(f"{name:11} {f['cold']['seconds']:8.1f} {f['warm']['seconds']:8.1f} {f['cold_new_model']['seconds']:11.1f} "
              f"{base:8.1f} {f['cold_over_floor']:10.2f} {f['cold_without_trigger_scan_over_floor']:8.2f} "
              f"{f['cold_new_model_over_floor']:9.2f} "
              f"{f['warm_over_cold']:9.3f} {f['cold']['peak_rss_mib']:9} "
              f"{f.get('cold_4x', {}).get('peak_rss_mib', '-'):>7} {ray_seconds}")
        slowest = min(f["perturbation_images_per_second"].items(), key=lambda item: item[1])
        print(f"  {f['variants']} image variants; slowest perturbation {slowest[0]} at {slowest[1]} img/s; "
              f"all: {f['perturbation_images_per_second']}"
              + (f"; one Ray worker: {f['ray_worker_images_per_second']} img/s" if "ray_local_cold" in f else ""))
        for run, shares in (("cold run", "cold_stage_shares"), ("new model's run", "cold_new_model_stage_shares")):
            print(f"  {run} by stage: " + ", ".join(f"{stage} {share:.1%}" for stage, share in sorted(
                f[shares].items(), key=lambda item: -item[1])))
        scan = f["trigger_scan"]
        print(f"  trigger scan: {scan['seconds']} s ({scan['cpu_seconds']} CPU s), {scan['steps']}/{scan['max_steps']} "
              f"steps{', converged' if scan['converged'] else ''}")
        independence = f["grouping_and_leakage"]
        print(f"  groups: {independence['groups']} ({independence['groups_source']}) in "
              f"{independence['grouping_seconds']} s; leakage check {independence['leakage_seconds']} s "
              f"({(independence['grouping_seconds'] + independence['leakage_seconds']) / f['cold']['seconds']:.1%} "
              "of the cold run)")
        spray = f["training_shortcut"]
        print(f"  SpRAy over {spray['images']} training images ({spray['explainer']}): {spray['seconds']} s")
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
