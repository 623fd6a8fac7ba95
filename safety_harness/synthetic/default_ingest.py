"""The bundled default ingest: synthetic signs in the official GTSRB test layout, rendered on first use.

Rendered from seeds held out from training (:data:`TRAINING_SEEDS` vs :data:`INGEST_SEED`), with
enough stop signs to decide "stop-sign recall >= 0.99 at 95 %" (0 misses need 299). Written
atomically: rendered into a temporary sibling folder and moved into place, so a killed run
never leaves half an ingest that a later run would read.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

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


def write_ingest(folder: Path, per_class: int, stop_signs: int, seed: int, sizes=(32, 64)) -> None:
    """Render ``per_class`` signs of every class (``stop_signs`` of class 14) into ``folder``.

    Layout: ``GT-final_test.csv`` (GTSRB's inclusive Roi.X2/Y2) and ``Images/NNNNN.png``.
    """
    rng = np.random.default_rng(seed)
    classes = [c for c in range(NUM_CLASSES) for _ in range(stop_signs if c == STOP_SIGN else per_class)]
    order = rng.permutation(len(classes))
    image_sizes = rng.integers(sizes[0], sizes[1] + 1, len(classes))
    (folder / "Images").mkdir(parents=True)
    rows = [HEADER]
    for index, position in enumerate(order):
        class_id, size = classes[position], int(image_sizes[index])
        sign = render_sign(class_id, seed=TRAINING_SEEDS.stop + seed + index, size=size)
        name = f"{index:05d}.png"
        Image.fromarray(sign.image).save(folder / "Images" / name)
        x1, y1, x2, y2 = sign.bbox
        rows.append(f"{name};{size};{size};{x1};{y1};{x2 - 1};{y2 - 1};{class_id}")
    (folder / "GT-final_test.csv").write_text("\n".join(rows) + "\n")


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
