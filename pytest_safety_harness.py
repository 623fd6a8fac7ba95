"""The harness's command-line options, as an installed pytest plugin (``make install``).

    pytest --model path/to/model.h5 --ingest new_data/

pytest decides its rootdir and configuration file from the existing paths on the command line
before it knows a project's options (pytest-dev/pytest#6904): from a ``conftest.py`` alone,
``--model /elsewhere/m.h5`` is taken for a test path and refused. Installed as a ``pytest11``
entry point, this module registers the options before the command line is parsed, so both the
space and the ``=`` form are recognised anywhere. When pytest then settles on another rootdir
(the paths' common ancestor) and finds no configuration, and the run is started from the
harness's folder with one of these options, the plugin adopts that folder's ``pytest.ini``
(options, test paths, import path, markers, warning filters), so the suite runs exactly as with
``--model=PATH``. Anywhere else it only adds its options.

Path defaults are ``None`` here and mean "the bundled one"; the harness resolves them.
"""

import shlex
import sys
from pathlib import Path

import iniconfig
import pytest

OPTIONS = (
    # (flags, keyword arguments of parser.addoption)
    (("--model",), dict(metavar="PATH", type=Path, action="append", default=[],
                        help="saved model: .h5 (Keras 3 or legacy Keras 2), .keras, a SavedModel directory, .tflite or .onnx "
                             "(default: the bundled reference model); given more than once, the models are judged "
                             "as one deep ensemble (the mean of their probabilities)")),
    (("--model-card",), dict(metavar="PATH", type=Path, action="append", default=[],
                             help="YAML saying how to feed the model (default: the .yaml beside the model with the "
                                  "same name); for an ensemble, once per --model (paired in order) or once for all")),
    (("--baseline-model",), dict(metavar="PATH", type=Path, default=None,
                                 help="the released model the candidate (--model) is compared with on the same images, "
                                      "conditions and seed, by the 'regression' and 'agreement' requirements (default: "
                                      "none; those requirements are then not applicable)")),
    (("--baseline-card",), dict(metavar="PATH", type=Path, default=None,
                                help="YAML saying how to feed the baseline model (default: the .yaml beside it with "
                                     "the same name)")),
    (("--ingest",), dict(metavar="DIR", type=Path, default=None,
                         help="data to validate on: GTSRB test or training layout, Kaggle layout, class folders named "
                              "by class id or class name, or a flat folder of images (default: the bundled synthetic "
                              "ingest)")),
    (("--class-map",), dict(metavar="PATH", type=Path, default=None,
                            help="CSV of 'folder name,class id' rows (header optional) mapping the ingest's class "
                                 "folders to class ids (default: folders named by class id, or by the model card's "
                                 "class names)")),
    (("--groups",), dict(metavar="PATH", type=Path, default=None,
                         help="CSV of 'file,group' rows (header optional), one per image of --ingest, its path "
                              "relative to the ingest folder: images of one group (a track, one physical sign) "
                              "are dependent, and rates are bounded over groups (default: a Track column of the "
                              "label file, the GTSRB training naming TTTTT_FFFFF, or groups estimated from image "
                              "similarity)")),
    (("--reference",), dict(metavar="DIR", type=Path, default=None,
                            help="in-distribution reference data the OOD alarm is fitted on, e.g. the model's "
                                 "validation set (default: the bundled reference with the bundled model or ingest, "
                                 "else a seeded half of the ingest)")),
    (("--training-data",), dict(metavar="DIR", type=Path, default=None,
                                help="the data the model was trained on (any ingest layout): the ingest's "
                                     "independence of it is judged (SR-DATA-INDEPENDENCE) beside that of "
                                     "--reference (default: none)")),
    (("--ood-set",), dict(metavar="DIR", type=Path, action="append", default=[],
                          help="a folder of out-of-distribution images (any layout, labels ignored), e.g. signs of "
                               "another country; named by the folder's name; repeatable. Requirements read them as "
                               "'ood_sets: [given]'")),
    (("--requirements",), dict(metavar="PATH", type=Path, default=None,
                               help="safety requirements YAML (default: safety_tests/requirements.yaml)")),
    (("--evidence",), dict(metavar="PATH", type=Path, default=None,
                           help="where the machine-readable evidence JSON goes (default: beside the HTML report)")),
    (("--seed",), dict(type=int, default=0, help="seed for every random choice of the run (default: 0)")),
    (("--cache-dir",), dict(metavar="DIR", type=Path, default=None,
                            help="where generated data (the bundled synthetic ingest) and predictions persist "
                                 "between runs (default: .cache/ in the harness's folder)")),
    (("--no-cache",), dict(action="store_true",
                           help="compute every prediction afresh and store none (the bundled ingest is still "
                                "cached)")),
    (("--ray-address",), dict(metavar="ADDRESS", default=None,
                              help="run the prediction stage (decode, perturb, forward pass) on Ray: 'local' starts "
                                   "a Ray instance here, 'auto' or 'HOST:PORT' (the head node) joins the cluster this "
                                   "machine is a node of, 'ray://HOST:PORT' a remote one; needs requirements-ray.txt "
                                   "(default: predict in this process)")),
    (("--ray-workers",), dict(metavar="N", type=int, default=2,
                              help="model-holding Ray actors, one CPU each (default: 2)")),
    (("--ray-store",), dict(metavar="DIR", type=Path, default=None,
                            help="folder the Ray workers write their shards to, shared with every worker "
                                 "(default: shards/ in the cache folder)")),
    (("--family-wise",), dict(action="store_true",
                              help="judge each of the m rate requirement cases at confidence 1 - (1 - c) / m "
                                   "(Bonferroni), so that all passing ones hold jointly at the stated confidence c "
                                   "(needs more samples: see README, 'Joint confidence')")),
    (("--plan",), dict(action="store_true",
                       help="load no model and read no data: print and record (--plan-json) how many independent "
                            "groups (signs, tracks) would decide each rate requirement with 0, 1 and 2 misses "
                            "(events for a ceiling), and exit without running the safety tests")),
    (("--plan-groups",), dict(metavar="N", type=int, default=None,
                              help="with --plan: also say whether a planned ingest of N independent groups per "
                                   "class decides each case with no miss (default: not said)")),
    (("--plan-json",), dict(metavar="PATH", type=Path, default=None,
                            help="where --plan writes its JSON (default: safety_plan.json beside the evidence)")),
    (("--trigger-scan-steps",), dict(metavar="N", type=int, default=None,
                                     help="optimisation steps of the trigger scan (Neural Cleanse, every class at "
                                          "once; a step budget keeps the result machine-independent). More steps "
                                          "search longer for a backdoor trigger (default: 300, about 65 CPU seconds "
                                          "with the bundled model)")),
    (("--allow-corrupt-images",), dict(action="store_true",
                                       help="evaluate the readable images when some cannot be decoded; the report "
                                            "lists the excluded ones")),
    (("--max-image-pixels",), dict(metavar="N", type=int, default=None,
                                   help="the most pixels (width x height) an image may have: a larger one is "
                                        "refused before it is decoded, as a possible decompression bomb; raise "
                                        "it for genuine large images (default: 67108864, 8192 x 8192)")),
    (("--allow-unsafe-model",), dict(action="store_true",
                                     help="load a model that carries code (Lambda layers, custom objects) or whose "
                                          "graph has ops with side effects (file, network, Python callbacks); the "
                                          "report says what was let through: only for models you trust")),
)
OPTION_NAMES = frozenset(flag for flags, _ in OPTIONS for flag in flags)
#: what marks a folder as the harness's: its configuration and its requirements file
HARNESS_FILES = ("pytest.ini", "safety_tests/requirements.yaml")


def pytest_addoption(parser):
    group = parser.getgroup("safety", "safety validation of an image classifier")
    for flags, keywords in OPTIONS:
        group.addoption(*flags, **keywords)


def _names_an_option(args) -> bool:
    return any(str(arg).split("=", 1)[0] in OPTION_NAMES for arg in args)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Adopt the harness's ``pytest.ini`` when pytest settled elsewhere (see the module's docstring)."""
    project = early_config.invocation_params.dir
    ini = project / "pytest.ini"
    if (early_config.inipath == ini or not _names_an_option(args)
            or not all((project / name).is_file() for name in HARNESS_FILES)):
        return
    settings = iniconfig.IniConfig(ini)["pytest"]
    args[:0] = shlex.split(settings.get("addopts", ""))
    if not parser.parse_known_args(args).file_or_dir:
        # pytest finds the initial conftests (this folder's conftest.py registers the harness's plugins)
        # from the invocation folder, this one, when the command line names no path
        args.extend(str(project / path) for path in settings.get("testpaths", "").split())
    for path in reversed(settings.get("pythonpath", "").split()):
        sys.path.insert(0, str(project / path))
    for name in ("markers", "filterwarnings"):
        for line in settings.get(name, "").strip().splitlines():
            early_config.addinivalue_line(name, line.strip())
