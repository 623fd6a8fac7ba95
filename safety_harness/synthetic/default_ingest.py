"""The bundled default ingest: synthetic signs in the official GTSRB test layout, rendered on first use.

Rendered from seeds held out from training (:data:`TRAINING_SEEDS` vs :data:`INGEST_SEED`), with
enough stop signs to decide "stop-sign recall >= 0.99 at 95 %" (0 misses need 299). Written
atomically: rendered into a temporary sibling folder and moved into place, so a killed run
never leaves half an ingest that a later run would read.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import safety_harness
from safety_harness.core.gtsrb import NUM_CLASSES, STOP_SIGN
from safety_harness.core.provenance import Generated
from safety_harness.synthetic.renderer import render_sign

GENERATOR_VERSION = 2
INGEST_SEED = 20261122
#: the in-distribution reference the OOD alarm is fitted on (a "validation set" of the reference model)
REFERENCE_SEED = 21_000_000  # far from INGEST_SEED: no render seed is shared
REFERENCE_PER_CLASS = 100
#: the reference model is trained on seeds below this bound; the ingest's seeds start above it
TRAINING_SEEDS = range(0, 10_000_000)
PER_CLASS = 100
STOP_SIGNS = 700
HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
#: the generator and its version as the evidence (and a model card's ``training_data``) names it
GENERATOR = f"safety_harness.synthetic.renderer v{GENERATOR_VERSION}"
DEFAULT_INGEST = Generated(GENERATOR, INGEST_SEED, (
    f"the bundled default ingest: {PER_CLASS} renders of every GTSRB class ({STOP_SIGNS} stop signs) by the bundled "
    "renderer, from seeds held out from the bundled reference model's training"))
DEFAULT_REFERENCE = Generated(GENERATOR, REFERENCE_SEED, (
    f"the bundled reference: {REFERENCE_PER_CLASS} renders of every GTSRB class by the bundled renderer, from seeds "
    "held out from the bundled reference model's training and from the default ingest"))


#: renders from which a set is shared out among processes, one per available core (one costs ~0.5 s to start)
PARALLEL_FROM = 1000
#: what a helper process runs: render the signs (index, class, size) read from stdin, write their boxes to stdout
_HELPER = ("import json, sys; from pathlib import Path; from safety_harness.synthetic.default_ingest import "
           "_render_files; print(json.dumps(_render_files(Path(sys.argv[1]), int(sys.argv[2]), json.load(sys.stdin))))")


def write_ingest(folder: Path, per_class: int, stop_signs: int, seed: int, sizes=(32, 64)) -> None:
    """Render ``per_class`` signs of every class (``stop_signs`` of class 14) into ``folder``.

    Layout: ``GT-final_test.csv`` (GTSRB's inclusive Roi.X2/Y2) and ``Images/NNNNN.png``. Every image is drawn
    from its own seed, so a large set is shared out in contiguous parts among this process and helper
    processes, one per available core: the files are the same bytes however the work is shared.
    """
    rng = np.random.default_rng(seed)
    classes = [c for c in range(NUM_CLASSES) for _ in range(stop_signs if c == STOP_SIGN else per_class)]
    order = rng.permutation(len(classes))
    image_sizes = rng.integers(sizes[0], sizes[1] + 1, len(classes))
    (folder / "Images").mkdir(parents=True)
    signs = [(index, classes[position], int(image_sizes[index])) for index, position in enumerate(order)]
    parts = np.array_split(np.arange(len(signs)), max(1, min(len(os.sched_getaffinity(0)), len(signs) // PARALLEL_FROM)))
    helpers = [_start_helper(folder / "Images", seed, [signs[i] for i in part]) for part in parts[1:]]
    boxes = _render_files(folder / "Images", seed, [signs[i] for i in parts[0]])
    for helper, errors in helpers:
        output = helper.stdout.read()  # its stdin is written and closed already; its stderr goes to a file
        if helper.wait():
            errors.seek(0)
            raise RuntimeError(f"rendering {folder} in a helper process failed:\n{errors.read()}")
        errors.close()
        boxes += [tuple(box) for box in json.loads(output)]
    rows = [HEADER] + [f"{index:05d}.png;{size};{size};{x1};{y1};{x2 - 1};{y2 - 1};{class_id}"
                       for (index, class_id, size), (x1, y1, x2, y2) in zip(signs, boxes, strict=True)]
    (folder / "GT-final_test.csv").write_text("\n".join(rows) + "\n")


def _start_helper(images: Path, seed: int, signs: list) -> tuple[subprocess.Popen, object]:
    """A process rendering ``signs`` with :func:`_render_files`, importing this harness from where this one runs,
    and the file its stderr goes to."""
    harness_parent = str(Path(safety_harness.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [harness_parent, os.environ.get("PYTHONPATH")]))}
    # its stderr to a file, not a pipe: a pipe left unread while stdout is read could fill and stall the helper
    errors = tempfile.TemporaryFile("w+")
    helper = subprocess.Popen([sys.executable, "-c", _HELPER, str(images), str(seed)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    helper.stdin.write(json.dumps(signs))
    helper.stdin.close()
    return helper, errors


def _render_files(images: Path, seed: int, signs) -> list[tuple[int, int, int, int]]:
    """Render ``signs`` (index, class, size) of the set of ``seed`` into ``images``/NNNNN.png; their boxes."""
    boxes = []
    for index, class_id, size in signs:
        sign = render_sign(class_id, seed=TRAINING_SEEDS.stop + seed + index, size=size)
        Image.fromarray(sign.image).save(images / f"{index:05d}.png")
        boxes.append(sign.bbox)
    return boxes


def _folder(cache_dir: Path, name: str, seed: int) -> Path:
    return Path(cache_dir) / f"{name}-v{GENERATOR_VERSION}-seed{seed}"


def bundled_data(folder: Path, cache_dir: Path) -> Generated | None:
    """How the bundled renderer drew ``folder`` when it is the default ingest or reference rendered under
    ``cache_dir`` (a run may be given it by path, as the CI examples do); None for any other folder."""
    for name, generated in (("default-ingest", DEFAULT_INGEST), ("default-reference", DEFAULT_REFERENCE)):
        if Path(folder).resolve() == _folder(cache_dir, name, generated.seed).resolve():
            return generated
    return None


def _ensure(cache_dir: Path, name: str, per_class: int, stop_signs: int, seed: int) -> Path:
    target = _folder(cache_dir, name, seed)
    if (target / "GT-final_test.csv").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write_ingest(staging / "ingest", per_class, stop_signs, seed)
        try:
            os.replace(staging / "ingest", target)
        except OSError:
            if not (target / "GT-final_test.csv").is_file():  # not a concurrent run that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_default_ingest(cache_dir: Path) -> Path:
    """The default ingest's folder under ``cache_dir``, rendered there if it is not yet."""
    return _ensure(cache_dir, "default-ingest", PER_CLASS, STOP_SIGNS, DEFAULT_INGEST.seed)


def ensure_default_reference(cache_dir: Path) -> Path:
    """The in-distribution reference set for the OOD alarm, rendered from its own held-out seed."""
    return _ensure(cache_dir, "default-reference", REFERENCE_PER_CLASS, REFERENCE_PER_CLASS, DEFAULT_REFERENCE.seed)
