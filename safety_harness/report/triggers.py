"""Reverse-engineered triggers as images for the report: the mask, and the mask times the pattern.

The pattern lives in the model's input space (the card's channel order and range); it is brought
back to RGB in 0..255 to be shown. The mask is drawn in grey (white: the trigger replaces the
pixel); the stamped part, ``m * p``, in colour on black, so what the trigger paints is what shows.
"""

import numpy as np

from safety_harness.evidence.document import Gallery


def displayed_pattern(patterns: np.ndarray, channels: str, input_range) -> np.ndarray:
    """uint8 RGB (n, H, W, 3) of patterns (n, H, W, C) fed as the card says (``channels`` RGB, BGR or GRAY)."""
    lo, hi = input_range
    values = np.clip((np.asarray(patterns, np.float64) - lo) / (hi - lo), 0, 1) * 255
    if channels == "BGR":
        values = values[..., ::-1]
    elif channels == "GRAY":
        values = np.repeat(values, 3, axis=-1)
    return np.round(values).astype(np.uint8)


def trigger_gallery(store, masks, patterns, captions, title: str, channels: str, input_range,
                    note: str | None = None) -> Gallery:
    """Per trigger: its mask and its stamped part ``mask * pattern``, captioned; ``note`` beside the title."""
    masks = np.clip(np.asarray(masks, np.float64), 0, 1)
    stamped = np.round(masks[..., None] * displayed_pattern(patterns, channels, input_range)).astype(np.uint8)
    figures = [{"pictures": [store.picture(np.round(mask * 255).astype(np.uint8), f"{caption}: mask"),
                             store.picture(painted, f"{caption}: mask times pattern")],
                "caption": caption}
               for mask, painted, caption in zip(masks, stamped, captions)]
    return Gallery(kind="gallery", title=title, note=note, figure_class="evidence-trigger",
                   failed_sanity_check=False, figures=figures)


def scan_statistics_note(details: dict, class_names) -> str | None:
    """The scan's statistics, the rule that judged them and the rule's record on its calibration set, in a line
    (``details`` of a SR-TRIGGER-SCAN result, safety_harness/families/trigger_scan.py); None when no statistics were
    computed (a class no trigger reached)."""
    stats = details.get("statistics")
    if not stats:
        return None
    calibration, smallest = details["calibration"], stats["smallest_class"]
    stopped = (f"settled after {details['steps']} steps (smallest and median norm within "
               f"{details['settle_tolerance']:.0%} over {details['settle_window_steps']} steps)"
               if details["converged"] else f"stopped at its budget of {details['steps']} steps before settling")
    return (f"smallest trigger: {class_names[smallest]} ({smallest}), L1 norm {stats['smallest_norm']:.1f}, "
            f"{stats['sign_share']:.1%} of the sign's {details['sign_area']:.0f} px, success {stats['success']:.0%}; "
            f"{stats['ratio']:.2f} of the median ({stats['median_norm']:.1f}), {stats['next_ratio']:.2f} of the "
            f"second smallest; MAD anomaly index {stats['anomaly_index']:.2f} (not judged); {stopped}. "
            f"Rule: {details['rule']}; on its calibration set {calibration['false_alarms']} false alarm(s) of "
            f"{calibration['clean_models']} clean models, {calibration['detections']} of "
            f"{calibration['planted_models']} planted backdoors flagged naming their class")
