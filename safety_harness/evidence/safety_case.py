"""The safety case of a run, derived from its evidence: each goal's status comes from the verdicts under it.

The structure follows GSN (Goal Structuring Notation, Kelly and Weaver 2004; GSN Community Standard
v3, 2021): a top goal scoped to what the run tests (this classifier, by its SHA-256, within the
operating conditions judged), its context (the model, the data with its provenance, the operating
conditions), an assumption (the ingest represents the operating conditions), a strategy over the
hazards, one goal per hazard, and one solution per requirement against it (the requirement's
cases are its evidence). A hazard goal is

- ``supported`` when every requirement against it passes,
- ``not_supported`` when one fails,
- ``undeveloped`` otherwise: no evidence decides it (a requirement not applicable or with
  insufficient evidence, or no requirement of this run against the hazard).

Everything here is a pure function of the evidence's sections: the report draws what this returns.
"""

import re

from safety_harness.plan.conditions import Condition

SUPPORTED, NOT_SUPPORTED, UNDEVELOPED = "supported", "not_supported", "undeveloped"
#: a requirement's verdict is that of its worst case: blocking verdicts first, then the smallest margin
_VERDICT_ORDER = ("fail", "insufficient_evidence", "pass", "not_applicable")

STRATEGY = ("Argued over each hazard of the requirements file: a hazard is mitigated when every requirement "
            "against it is shown to hold with its stated confidence on this model and this data.")
ASSUMPTION = "The ingest represents the operating conditions the classifier will meet."
#: what the assumption's independence status says until a requirement of the run checks it
INDEPENDENCE_NOT_CHECKED = ("not checked: no requirement of this run tests that the ingest is independent of the "
                            "data the model and its monitor were fitted on")


def requirement_anchor(requirement_id: str) -> str:
    """The HTML id of a requirement's row in the report, which every node of its solution links to."""
    return "requirement-" + re.sub(r"[^A-Za-z0-9_-]", "-", requirement_id)


def _severity(case: dict) -> tuple:
    margin = float("inf") if case["margin"] is None else case["margin"]
    return _VERDICT_ORDER.index(case["verdict"]), margin


def worst_case(cases: list[dict]) -> dict:
    """The case that decides a requirement: a blocking one, else the one with the smallest margin."""
    return min(cases, key=_severity)


def goal_status(verdicts) -> str:
    """A goal's status from the verdicts of the requirements under it: supported (all pass), not supported (a
    fail), undeveloped (no requirement, or one without deciding evidence: not applicable, insufficient)."""
    verdicts = list(verdicts)
    if "fail" in verdicts:
        return NOT_SUPPORTED
    if verdicts and all(verdict == "pass" for verdict in verdicts):
        return SUPPORTED
    return UNDEVELOPED


def top_goal_status(hazard_statuses) -> str:
    """The top goal's status from its hazard goals': supported only when each is."""
    statuses = list(hazard_statuses)
    if NOT_SUPPORTED in statuses:
        return NOT_SUPPORTED
    return SUPPORTED if statuses and all(status == SUPPORTED for status in statuses) else UNDEVELOPED


def operating_conditions(requirements: list[dict]) -> dict[str, list[int]]:
    """The conditions the run's cases judged: ``{"clean": []}`` and each perturbation with its severities."""
    judged: dict[str, set[int]] = {}
    for case in requirements:
        condition = Condition.parse(case["condition"])
        judged.setdefault(condition.name, set()).update(() if condition.is_clean else (condition.severity,))
    return {name: sorted(judged[name]) for name in sorted(judged, key=lambda name: (name != "clean", name))}


def _conditions_text(conditions: dict[str, list[int]]) -> str:
    if not conditions:
        return "none judged"
    return "; ".join(name if not severities else f"{name} at severity {', '.join(map(str, severities))}"
                     for name, severities in conditions.items())


def _model_text(model: dict) -> tuple[str, str]:
    """How the top goal and the model context name the model under test."""
    if "members" in model:
        return (f"the ensemble of {len(model['members'])} classifiers (SHA-256 {model['sha256']})",
                f"Model: an ensemble ({model['combination']}) of " + ", ".join(
                    f"{member['path']} (SHA-256 {member['sha256']})" for member in model["members"]))
    return f"the classifier {model['path']} (SHA-256 {model['sha256']})", f"Model: {model['path']}, SHA-256 " \
                                                                            f"{model['sha256']}"


def _data_text(data: dict) -> str:
    """Each data set by name and provenance (the generator and seed of generated data), the OOD sets of one
    origin together; the report's data table holds the descriptions and hashes."""
    by_origin: dict[tuple[str, str], list[str]] = {}
    for d in data["sets"]:
        origin = d["provenance"] if d["generator"] is None else f"{d['provenance']} by {d['generator']}"
        origin += "" if d["seed"] is None else f", seed {d['seed']}"
        by_origin.setdefault((d["role"], origin), []).append(d["name"])
    return "Data: " + "; ".join(f"{'OOD sets ' if role == 'ood_set' else ''}{', '.join(names)}: {origin}"
                                for (role, origin), names in by_origin.items())


def _independence_text(requirements: list[dict]) -> str:
    """The assumption's independence status: the verdicts of the run's data-independence cases (leakage_rate)."""
    checked = [case for case in requirements if case.get("metric") == "leakage_rate"]
    if not checked:
        return INDEPENDENCE_NOT_CHECKED
    return "; ".join(f"{case['id']}: {getattr(case['verdict'], 'value', case['verdict'])}"
                     + (f" ({case['reason']})" if case.get("reason") else "") for case in checked)


def build_safety_case(requirements: list[dict], model: dict, data: dict,
                      left_out: list[dict]) -> dict:
    """The evidence's ``safety_case`` section from its ``requirements`` (case records, in judging order), ``model``,
    ``data`` (with provenance) and ``left_out`` (the requirements of the file not judged in this run, each with
    ``id``, ``title``, ``hazard`` and ``reason``)."""
    by_hazard: dict[str, dict[str, list[dict]]] = {}
    for case in requirements:
        by_hazard.setdefault(case["hazard"], {}).setdefault(case["requirement"], []).append(case)
    for requirement in left_out:
        by_hazard.setdefault(requirement["hazard"], {})
    hazards, solution_number = [], 0
    for number, (hazard, cases_by_requirement) in enumerate(by_hazard.items(), start=1):
        solutions = []
        for requirement_id, cases in cases_by_requirement.items():
            solution_number += 1
            worst = worst_case(cases)
            solutions.append({"id": f"Sn{solution_number}", "requirement": requirement_id,
                              "title": cases[0]["title"], "verdict": worst["verdict"], "worst_case": worst["id"],
                              "cases": [case["id"] for case in cases], "anchor": requirement_anchor(requirement_id)})
        hazards.append({"id": f"G{number}", "hazard": hazard,
                        "status": goal_status(solution["verdict"] for solution in solutions),
                        "solutions": solutions,
                        "not_judged": [r["id"] for r in left_out if r["hazard"] == hazard]})
    conditions = operating_conditions(requirements)
    model_goal, model_context = _model_text(model)
    ingest = next(d for d in data["sets"] if d["role"] == "ingest")
    return {
        "top_goal": {"id": "G0", "status": top_goal_status(h["status"] for h in hazards),
                     "text": f"{model_goal[0].upper()}{model_goal[1:]} meets its safety requirements within the "
                             f"stated operating conditions (C3)."},
        "strategy": {"id": "S1", "text": STRATEGY},
        "context": [{"id": "C1", "text": model_context}, {"id": "C2", "text": _data_text(data)},
                    {"id": "C3", "text": f"Operating conditions judged: {_conditions_text(conditions)}"}],
        "assumptions": [{"id": "A1", "text": ASSUMPTION,
                         "provenance": f"the ingest is {ingest['provenance']}" + (
                             f" ({ingest['generator']}, seed {ingest['seed']}): a demonstration, not release "
                             "evidence" if ingest["provenance"] == "generated" else ""),
                         "independence": _independence_text(requirements)}],
        "hazards": hazards,
    }
