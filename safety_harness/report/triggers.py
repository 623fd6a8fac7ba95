"""Reverse-engineered triggers as images for the report: the mask, and the mask times the pattern.

The pattern lives in the model's input space (the card's channel order and range); it is brought
back to RGB in 0..255 to be shown. The mask is drawn in grey (white: the trigger replaces the
pixel); the stamped part, ``m * p``, in colour on black, so what the trigger paints is what shows.
"""

import html

import numpy as np

from safety_harness.report.thumbnails import png_data_uri

#: thumbnails are enlarged this many times (GTSRB-sized triggers are 24-64 px)
SCALE = 3


def displayed_pattern(patterns: np.ndarray, channels: str, input_range) -> np.ndarray:
    """uint8 RGB (n, H, W, 3) of patterns (n, H, W, C) fed as the card says (``channels`` RGB, BGR or GRAY)."""
    lo, hi = input_range
    values = np.clip((np.asarray(patterns, np.float64) - lo) / (hi - lo), 0, 1) * 255
    if channels == "BGR":
        values = values[..., ::-1]
    elif channels == "GRAY":
        values = np.repeat(values, 3, axis=-1)
    return np.round(values).astype(np.uint8)


def trigger_gallery_html(masks, patterns, captions, title: str, channels: str, input_range) -> str:
    """Per trigger: its mask and its stamped part ``mask * pattern``, captioned; every caption is escaped."""
    masks = np.clip(np.asarray(masks, np.float64), 0, 1)
    stamped = np.round(masks[..., None] * displayed_pattern(patterns, channels, input_range)).astype(np.uint8)
    figures = []
    for mask, painted, caption in zip(masks, stamped, captions):
        drawn = ((np.round(mask * 255).astype(np.uint8), f"{caption}: mask"),
                 (painted, f"{caption}: mask times pattern"))
        imgs = "".join(f'<img src="{png_data_uri(image, SCALE)}" alt="{html.escape(alt)}">' for image, alt in drawn)
        figures.append(f'<figure class="evidence-thumb evidence-trigger">{imgs}'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return (f'<div class="evidence-gallery"><p><strong>{html.escape(title)}</strong></p>'
            f'<div style="display:flex;flex-wrap:wrap;gap:8px">{"".join(figures)}</div></div>')


def scan_statistics_html(details: dict, class_names) -> str:
    """The scan's statistics beside the rule that judged them and the rule's record on its calibration set
    (``details`` of a SR-TRIGGER-SCAN result, fixtures/evidence.py); empty when no statistics were computed."""
    stats = details.get("statistics")
    if not stats:
        return ""
    calibration = details["calibration"]
    smallest = stats["smallest_class"]
    stopped = (f"settled after {details['steps']} steps (smallest and median norm within "
               f"{details['settle_tolerance']:.0%} over {details['settle_window_steps']} steps)"
               if details["converged"] else f"stopped at its budget of {details['steps']} steps before settling")
    rows = (("smallest trigger", f"{class_names[smallest]} ({smallest}), L1 norm {stats['smallest_norm']:.1f}"),
            ("median class trigger", f"L1 norm {stats['median_norm']:.1f}"),
            ("smallest / median", f"{stats['ratio']:.2f}"),
            ("smallest / second smallest", f"{stats['next_ratio']:.2f}"),
            ("smallest as a share of the sign's area", f"{stats['sign_share']:.1%} of {details['sign_area']:.0f} px"),
            ("its success on the scan's images", f"{stats['success']:.0%}"),
            ("MAD anomaly index (Neural Cleanse's statistic, not judged)", f"{stats['anomaly_index']:.2f}"),
            ("scan", stopped),
            ("rule", details["rule"]),
            ("rule on its calibration set", f"{calibration['false_alarms']} false alarm(s) of "
                                            f"{calibration['clean_models']} clean models, "
                                            f"{calibration['detections']} of {calibration['planted_models']} "
                                            "planted backdoors flagged naming their class"))
    cells = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in rows)
    return f'<table class="trigger-scan-statistics">{cells}</table>'
