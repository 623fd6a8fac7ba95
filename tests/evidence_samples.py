"""A complete evidence document as the harness writes it, with every free text chosen by the test."""

from collections.abc import Callable

from safety_harness.evidence.document import SCHEMA_VERSION
from safety_harness.evidence.safety_case import build_safety_case


def sample_evidence(text: Callable[[str], str] = str) -> dict:
    """An evidence JSON document (as a dict) whose every external string is ``text(field name)``:
    a robustness requirement that passes under a perturbation (so the report draws a chart), one
    that fails on clean images, one with too few samples and one that is not applicable."""
    def requirement(case_id, verdict, condition, value, bound, reason="", adverse_samples=None):
        return {
            "id": text(case_id), "requirement": text(case_id), "title": text("title"), "hazard": text("hazard"),
            "rationale": text("rationale"), "metric": "recall", "class": 14, "class_name": text("class_name"),
            "condition": condition, "n": 300, "successes": None if value is None else round(value * 300),
            "value": value, "bound": bound, "confidence": 0.95, "threshold": 0.95, "direction": ">=",
            "margin": None if bound is None else round(bound - 0.95, 6), "samples_needed": 450 if verdict == "insufficient_evidence" else None,
            "samples_needed_status": "computed" if verdict == "insufficient_evidence" else None, "verdict": verdict, "reason": reason,
            "parameters": {text("parameter"): text("parameter_value")}, "details": {text("detail"): [1, 2.5, None]},
            "samples_needed_unit": "independent groups" if verdict == "insufficient_evidence" else None,
            "independence": {"independence": "groups", "reason": text("independence_reason"),
                             "image_bound": bound, "groups": 40, "effective_n": 88.5, "correlation": 0.25,
                             "correlation_source": text("correlation_source")},
            "adverse_samples": adverse_samples,
            "events_to_block": 3 if verdict == "pass" else None,
            "degenerate": None,
            "exhibits": [],
        }

    def preprocessing_variant(p_value, clearly_better):
        return {"channels": text("variant_channels"), "gray": text("variant_gray"), "steps": [text("variant_step")],
                "range": [0.0, 255.0], "output_order": [0], "accuracy": 0.5, "mean_confidence": 0.9,
                "class_entropy": 0.8, "p_value": p_value, "clearly_better": clearly_better, "unusable": None}

    evidence = {
        "schema_version": SCHEMA_VERSION,
        "gate": "fail",
        "gate_joint_confidence": {"value": 0.97, "method": "holm", "rate_cases": 1, "set_by": [text("robust")],
                                  "family_wise_passing": 0, "family_wise_gate": "fail", "left_out": [text("left_out")],
                                  "family_wise": False},
        "verdict_counts": {"pass": 1, "fail": 1, "insufficient_evidence": 1, "not_applicable": 1},
        "model": {
            "path": text("model_path"), "format": text("format"), "loader": text("loader"),
            "runtime": text("runtime"), "sha256": "ab" * 32,
            "input_shape": [None, 32, 32, 3], "output_shape": [None, 43], "parameters": 1000,
            "card_path": text("card_path"), "card_assumed": True,
            "card": {"size": [32, 32], "channels": text("channels"), "range": [0.0, 1.0], "resize": text("resize"),
                     "output": text("output"), "classes": [text("card_class")], "class_names": [text("card_class")],
                     "layout": text("card_layout"), "gray": text("gray"), "steps": [text("step")],
                     "normalize": {"mean": [0.5], "std": [0.25]}, "resize_library": text("resize_library"),
                     "output_order": [0]},
            "intended_use": {"intended_use": text("intended_use"), "out_of_scope_uses": [text("out_of_scope_use")],
                             "caveats": []},
            "load_warnings": [text("load_warning")],
            "preprocessing_check": {
                "n": 512, "labelled": True, "rule": text("preprocessing_rule"),
                "card": preprocessing_variant(None, False),
                "alternatives": [preprocessing_variant(1e-30, True), {**preprocessing_variant(None, False),
                                                                      "unusable": text("unusable_reason")}],
                "clearly_better": text("clearly_better"),
            },
            "safety_checks": {"checked": [text("safety_check")], "allowed_by_allow_unsafe_model": [text("unsafe_allowed")]},
        },
        "ingest": {
            "path": text("ingest_path"), "layout": text("layout"), "label_file": text("label_file"),
            "reading": text("reading"), "folder_classes": {text("folder"): 14}, "labelled": True,
            "n": 302, "evaluated": 300, "sha256": "cd" * 32, "class_counts": {"0": 2, "14": 300},
            "excluded": [{"path": text("excluded_path"), "reason": text("excluded_reason")}],
            "ignored": [{"path": text("ignored_path"), "reason": text("ignored_reason")}],
            "groups": {"source": "estimated", "description": text("groups_description"), "count": 41,
                       "per_class": {"0": 1, "14": 40},
                       "sizes": {"min": 1, "median": 7.0, "max": 30, "histogram": {"1": 3, "5-9": 38}}},
        },
        "data": {"demonstration": True, "same_generator_as_training": ["ingest"], "sets": [
            {"role": "ingest", "name": "ingest", "provenance": "generated", "description": text("ingest_description"),
             "sha256": "cd" * 32, "generator": text("generator"), "seed": 7},
            {"role": "ood_set", "name": text("ood_set"), "provenance": "real", "description": text("ood_description"),
             "sha256": "ef" * 32, "generator": None, "seed": None},
            {"role": "training", "name": text("training_name"), "provenance": "generated",
             "description": text("training_description"), "sha256": None, "generator": text("generator"),
             "seed": None}]},
        "requirements_file": text("requirements_file"),
        "requirements_not_judged": [{"id": text("not_judged"), "title": text("not_judged_title"),
                                     "hazard": text("not_judged_hazard"), "reason": text("not_judged_reason")}],
        "requirements_sha256": "ef" * 32,
        "report": text("report"),
        "class_names": [text("class_name_0")] + [f"class {i}" for i in range(1, 43)],
        "perturbations": {text("perturbation"): {"description": text("description"),
                                         "severities": {"1": {text("severity_parameter"): text("severity_value")}},
                                                 "contact_sheet": None}},
        "environment": {"timestamp": "2026-11-23T22:00:00+00:00", "harness_version": text("harness_version"), "harness_commit": text("harness_commit"),
                        "python": "3.11.7", "platform": text("platform"),
                        "libraries": {text("library"): text("library_version")}, "seed": 0},
        "predictions_from": {text("stage"): text("stage_source")},
        "explanations": {
            "sample_size": 16, "seed": 0, "sample": text("explanation_sample"), "chosen": text("explainer"),
            "heatmaps_from": text("explainer"),
            "explainers": [{"name": text("explainer"), "applies": True, "reason": None, "median_correlation": 0.2,
                            "correlation_threshold": 0.5, "constant_maps": 1, "randomised_layers": [text("layer")],
                            "deletion_auc_difference": -0.1, "deletion_upper_bound": -0.05,
                            "deletion_confidence": 0.95, "passed": True},
                           {"name": text("explainer_not_applicable"), "applies": False,
                            "reason": text("explainer_reason"), "median_correlation": None,
                            "correlation_threshold": None, "constant_maps": None, "randomised_layers": [],
                            "deletion_auc_difference": None, "deletion_upper_bound": None,
                            "deletion_confidence": None, "passed": False}],
            "class_views": [{"class": 14, "class_name": text("class_view_name"), "recognised": 300, "averaged": 256,
                             "explainer": text("explainer"), "sanity_passed": False, "median_mass_in_box": 0.81,
                             "examples": [text("class_view_example")], "reason": None, "gallery": None},
                            {"class": 0, "class_name": text("class_name_0"), "recognised": 0, "averaged": 0,
                             "explainer": None, "sanity_passed": False, "median_mass_in_box": None, "examples": [],
                             "reason": text("class_view_reason"), "gallery": None}],
        },
        "errors": [{"test": text("error_test"), "phase": "call", "message": text("error_message")}],
        "requirements": [
            requirement("robust", "pass", "rain:1", 1.0, 0.99),
            requirement("clean", "fail", "clean", 0.9, 0.87, reason=text("fail_reason"), adverse_samples={
                "count": 30, "cap": 50, "listed": [{"path": text("adverse_path"), "true_class": 14,
                                                   "predicted_class": 3, "score": 0.61}]}),
            requirement("undecided", "insufficient_evidence", "clean", 1.0, 0.99),
            requirement("unlabelled", "not_applicable", "clean", None, None, reason=text("not_applicable_reason")),
        ],
    }
    evidence["safety_case"] = build_safety_case(evidence["requirements"], evidence["model"], evidence["data"],
                                                evidence["requirements_not_judged"])
    return evidence
