"""Command-line options of the safety harness, registered in one place.

    pytest --model path/to/model.h5 --ingest new_data/

The fixtures live in ``fixtures/plugin.py``, the HTML and JSON evidence in ``report/plugin.py``.
"""

from pathlib import Path

from model_under_test.reference import BUNDLED_MODEL

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_REQUIREMENTS = PROJECT_ROOT / "safety_tests" / "requirements.yaml"
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache"

pytest_plugins = ["fixtures.plugin", "report.plugin"]


def pytest_addoption(parser):
    group = parser.getgroup("safety", "safety validation of an image classifier")
    group.addoption(
        "--model", metavar="PATH", type=Path, default=BUNDLED_MODEL,
        help="saved model: .h5 (Keras 3 or legacy Keras 2), .keras, or a SavedModel directory "
             "(default: the bundled reference model)",
    )
    group.addoption(
        "--model-card", metavar="PATH", type=Path, default=None,
        help="YAML saying how to feed the model (default: the .yaml beside the model with the same name)",
    )
    group.addoption(
        "--ingest", metavar="DIR", type=Path, default=None,
        help="data to validate on: GTSRB test or training layout, Kaggle layout, numeric class folders, "
             "or a flat folder of images (default: the bundled synthetic ingest)",
    )
    group.addoption(
        "--reference", metavar="DIR", type=Path, default=None,
        help="in-distribution reference data the OOD alarm is fitted on, e.g. the model's validation set "
             "(default: the bundled reference with the bundled model or ingest, else a seeded half of the ingest)",
    )
    group.addoption(
        "--ood-set", metavar="DIR", type=Path, action="append", default=[],
        help="a folder of out-of-distribution images (any layout, labels ignored), e.g. signs of another "
             "country; named by the folder's name; repeatable. Requirements read them as 'ood_sets: [given]'",
    )
    group.addoption(
        "--requirements", metavar="PATH", type=Path, default=DEFAULT_REQUIREMENTS,
        help="safety requirements YAML (default: safety_tests/requirements.yaml)",
    )
    group.addoption(
        "--evidence", metavar="PATH", type=Path, default=None,
        help="where the machine-readable evidence JSON goes (default: beside the HTML report)",
    )
    group.addoption("--seed", type=int, default=0, help="seed for every random choice of the run (default: 0)")
    group.addoption(
        "--cache-dir", metavar="DIR", type=Path, default=DEFAULT_CACHE_DIR,
        help="where generated data (the bundled synthetic ingest) and predictions persist between runs "
             "(default: .cache/)",
    )
    group.addoption(
        "--no-cache", action="store_true",
        help="compute every prediction afresh and store none (the bundled ingest is still cached)",
    )
    group.addoption(
        "--allow-corrupt-images", action="store_true",
        help="evaluate the readable images when some cannot be decoded; the report lists the excluded ones",
    )
    group.addoption(
        "--allow-unsafe-model", action="store_true",
        help="load a model with Lambda layers (arbitrary Python code): only for models you trust",
    )
