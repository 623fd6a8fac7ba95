"""The command-line options checked up front, before any data is generated or model loaded.

An output path that cannot be written would otherwise be found only when it is written: the
evidence JSON at the very end of a full run, which then leaves neither evidence nor report.
Every problem is gathered and reported in one :class:`HarnessInputError`.
"""

import importlib.util
import os
import re
import sys
from pathlib import Path

from safety_harness.core.errors import HarnessInputError

#: ``--seed`` seeds numpy's generators, which take 0..2**32-1
SEED_RANGE = (0, 2**32 - 1)


def check_options(base: Path, *, evidence=None, html=None, cache_dir=None, seed: int = 0, models=(),
                  model_cards=(), ray_address=None, ray_workers: int = 2, ray_store=None,
                  trigger_scan_steps: int | None = None, max_image_pixels: int | None = None, plan_json=None,
                  plan: bool = False, plan_groups: int | None = None) -> None:
    """Raise one :class:`HarnessInputError` naming every unusable option, or return.

    Parameters
    ----------
    base : Path
        The folder relative paths are taken against (where pytest was started).
    evidence, html : path or None
        Files the run writes (``--evidence``, ``--html``); None: not given.
    cache_dir : path or None
        The folder the run writes generated data and predictions into (``--cache-dir``).
    seed : int
        ``--seed``.
    models, model_cards : sequences of paths
        Every ``--model`` and every ``--model-card``, in the order given (:func:`model_members`).
    ray_address, ray_workers, ray_store
        ``--ray-address`` (None: the prediction stage runs here), ``--ray-workers``, ``--ray-store``.
    trigger_scan_steps : int or None
        ``--trigger-scan-steps``; None: not given.
    max_image_pixels : int or None
        ``--max-image-pixels``; None: not given.
    plan_json : path or None
        The file a ``--plan`` run writes (``--plan-json``); None: not given.
    plan, plan_groups : bool, int or None
        ``--plan`` and ``--plan-groups`` (None: not given).
    """
    problems = [problem for problem in (
        _file_problem("--evidence", evidence, base, "safety_evidence.json"),
        _file_problem("--html", html, base, "safety_report.html"),
        _folder_problem("--cache-dir", cache_dir, base),
        _seed_problem(seed),
        _pairing_problem(len(models), len(model_cards)),
        *_ray_problems(ray_address, ray_workers, len(models)),
        _folder_problem("--ray-store", ray_store, base),
        _steps_problem(trigger_scan_steps),
        _pixels_problem(max_image_pixels),
        _file_problem("--plan-json", plan_json, base, "safety_plan.json"),
        _planned_groups_problem(plan, plan_groups),
    ) if problem is not None]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        listed = "\n".join(f"  {i}. {problem.problem}\n     How to fix: {problem.fix}"
                           for i, problem in enumerate(problems, 1))
        raise HarnessInputError(f"{len(problems)} options cannot be used:\n{listed}", "Fix each as said above.")


def model_members(models, model_cards) -> list[tuple]:
    """``(model, card or None)`` for every ``--model``: the cards paired with the models in order, one card
    for every model, or none (each model's card is then the YAML beside it). No ``--model`` is the bundled
    model, ``None`` here. Any other count of cards is a :class:`HarnessInputError`."""
    models = list(models) or [None]
    problem = _pairing_problem(len(models), len(model_cards))
    if problem is not None:
        raise problem
    if len(model_cards) == len(models):
        return list(zip(models, model_cards, strict=True))
    card = model_cards[0] if model_cards else None
    return [(model, card) for model in models]


def _pairing_problem(models: int, model_cards: int) -> HarnessInputError | None:
    """Why ``model_cards`` cards cannot go with ``models`` models (0: the bundled one), or None."""
    models = max(models, 1)
    if model_cards in (0, 1, models):
        return None
    given = f"--model is given {models} times" if models > 1 else "--model is given once (or not: the bundled model)"
    return HarnessInputError(
        f"{given} and --model-card {model_cards} times: the cards cannot be paired with the models",
        f"Give --model-card once per --model ({models} times, paired in the order given), once to feed every "
        "model with the same card, or not at all to use the YAML beside each model.")


def _file_problem(option: str, path, base: Path, file_name: str) -> HarnessInputError | None:
    if path is None:
        return None
    path = base / Path(path)
    if path.is_dir():
        return HarnessInputError(f"{option} {path} is a folder; the run writes a file there",
                                 f"Name a file, e.g. {option}={path / file_name}.")
    fix = f"Pass {option} a file in a writable folder (created when missing), e.g. {option}=reports/{file_name}."
    if path.exists() and not os.access(path, os.W_OK):
        return HarnessInputError(f"{option} {path} is not writable", fix)
    return _ancestor_problem(option, path.parent, fix)


def _folder_problem(option: str, path, base: Path) -> HarnessInputError | None:
    if path is None:
        return None
    path = base / Path(path)
    fix = f"Pass {option} a folder that exists or can be created, and is writable."
    if path.exists() and not path.is_dir():
        return HarnessInputError(f"{option} {path} is a file; the run keeps a folder there", fix)
    return _ancestor_problem(option, path, fix)


def _ancestor_problem(option: str, folder: Path, fix: str) -> HarnessInputError | None:
    """Why ``folder`` (created when missing) cannot be written into, or None."""
    existing = next(candidate for candidate in (folder, *folder.parents) if candidate.exists())
    if not existing.is_dir():
        return HarnessInputError(f"{option}: {folder} cannot be created, {existing} is a file", fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        return HarnessInputError(f"{option}: {existing} is not writable", fix)
    return None


def _seed_problem(seed: int) -> HarnessInputError | None:
    low, high = SEED_RANGE
    if low <= seed <= high:
        return None
    return HarnessInputError(f"--seed {seed} is out of range: a seed is an integer in {low}..{high}",
                             f"Pass --seed with a value from {low} to {high}, e.g. --seed=0.")


def _ray_problems(address, workers: int, members: int) -> list[HarnessInputError]:
    if address is None:
        return []
    problems = []
    if not (address in ("local", "auto") or re.fullmatch(r"(ray://)?[A-Za-z0-9.-]+:[0-9]{1,5}", address)):
        problems.append(HarnessInputError(
            f"--ray-address {address!r} is not a Ray address",
            "Pass --ray-address=local (a Ray instance started for this run), auto (the cluster this machine "
            "belongs to), HOST:PORT (the head node's address of a cluster this machine is a node of) or "
            "ray://HOST:PORT (a Ray client server)."))
    if importlib.util.find_spec("ray") is None:
        problems.append(HarnessInputError(
            f"--ray-address needs Ray, which is not installed for {sys.executable}",
            "Install it with `python -m pip install -r requirements-ray.txt`, or run without --ray-address."))
    if members > 1:
        problems.append(HarnessInputError(
            f"--ray-address with {members} models: the Ray prediction stage holds one model per worker, not an "
            "ensemble", "Run an ensemble without --ray-address, or one model with it."))
    if workers < 1:
        problems.append(HarnessInputError(f"--ray-workers {workers}: at least one worker is needed",
                                          "Pass --ray-workers with a positive count, e.g. --ray-workers=2."))
    return problems


def _steps_problem(steps: int | None) -> HarnessInputError | None:
    if steps is None or steps >= 1:
        return None
    return HarnessInputError(f"--trigger-scan-steps {steps} is not a step budget: it must be at least 1",
                             "Pass --trigger-scan-steps a positive integer, e.g. --trigger-scan-steps=400, or omit it "
                             "for the default.")


def _pixels_problem(pixels: int | None) -> HarnessInputError | None:
    if pixels is None or pixels >= 1:
        return None
    return HarnessInputError(f"--max-image-pixels {pixels} is not a size cap: it must be at least 1 pixel",
                             "Pass --max-image-pixels the largest width x height to accept, e.g. "
                             "--max-image-pixels=100000000, or omit it for the default (8192 x 8192).")


def _planned_groups_problem(plan: bool, groups: int | None) -> HarnessInputError | None:
    if groups is None or (plan and groups >= 1):
        return None
    if not plan:
        return HarnessInputError(f"--plan-groups {groups} is given without --plan: only a plan run reads it",
                                 "Add --plan (a run that loads no model and states the sample sizes), or drop "
                                 "--plan-groups.")
    return HarnessInputError(f"--plan-groups {groups} is not an ingest size: it must be at least 1 group per class",
                             "Pass --plan-groups the independent groups (signs, tracks) planned per class, e.g. "
                             "--plan-groups=300, or omit it.")
