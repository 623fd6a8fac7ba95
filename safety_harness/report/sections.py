"""HTML sections of the evidence report, built from the evidence dictionary alone.

Everything shown comes from the run's evidence (the same dictionary that is written as
JSON), and every string that comes from a model, a card, an ingest or a requirements
file is HTML-escaped.
"""

from html import escape

from safety_harness.plan.conditions import CLEAN, Condition

STYLE = """
<style>
.safety h2 { margin-top: 1.4em; border-bottom: 1px solid #ccc; }
.safety table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
.safety th, .safety td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
.safety th { background: #f0f0f0; }
.safety .num { text-align: right; font-family: monospace; }
.gate { font-size: 22px; font-weight: bold; padding: 12px; border-radius: 4px; margin: 8px 0; }
.gate-pass { background: #d8f5d8; color: #145214; border: 2px solid #2a8a2a; }
.gate-fail { background: #fbdcdc; color: #7a1010; border: 2px solid #b52a2a; }
.gate-no_verdict { background: #fff1c9; color: #6b4e00; border: 2px solid #c79a00; }
.verdict-pass { color: #145214; font-weight: bold; }
.verdict-fail { color: #b52a2a; font-weight: bold; }
.verdict-insufficient_evidence { color: #a05a00; font-weight: bold; }
.verdict-not_applicable { color: #666; font-weight: bold; }
.warning { background: #fff1c9; border-left: 5px solid #c79a00; padding: 8px; margin: 8px 0; }
.evidence-thumb { margin: 0; font-size: 11px; max-width: 160px; }
.evidence-thumb img { image-rendering: pixelated; width: 96px; height: 96px; display: block; }
</style>
"""

GATE_TEXT = {
    "pass": "RELEASE GATE: PASS — every evaluated requirement is met with the stated confidence.",
    "fail": "RELEASE GATE: FAIL — at least one requirement is not shown to hold.",
    "no_verdict": "RELEASE GATE: NO VERDICT — no requirement could be judged on this data.",
}

VERDICT_LEGEND = (
    ("pass", "the one-sided confidence bound clears the threshold."),
    ("fail", "the measured value itself misses the threshold."),
    ("insufficient_evidence", "the measured value meets the threshold but the bound does not: too few samples to "
                              "decide. Blocks the release like a fail; the table says how many samples would decide it."),
    ("not_applicable", "the requirement cannot be evaluated on this data (reason given); shown as skipped, never "
                       "as passed."),
)


def _cell(value, numeric=False) -> str:
    if value is None:
        text = "—"
    elif isinstance(value, float):
        text = f"{value:.4f}"
    else:
        text = escape(str(value))
    return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"


def _table(headers, rows, numeric=()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(_cell(v, i in numeric) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _key_values(pairs) -> str:
    return _table(("Property", "Value"), pairs)


def gate_section(evidence: dict) -> str:
    counts = evidence["verdict_counts"]
    gate = evidence["gate"]
    count_text = ", ".join(f"{escape(verdict)}: {count}" for verdict, count in counts.items())
    errors = evidence.get("errors") or []
    error_text = f" Tests that ended in an error without a verdict: {len(errors)}." if errors else ""
    return (
        f'<div class="gate gate-{escape(gate)}">{escape(GATE_TEXT[gate])}</div>'
        f"<p>Requirements per verdict — {count_text}.{escape(error_text)}</p>"
        "<p>The question behind every requirement: <em>would I stand behind a stop sign with this vehicle "
        "approaching?</em></p>"
    )


def warnings_section(evidence: dict) -> str:
    notes = []
    model = evidence["model"]
    if model["card_assumed"]:
        notes.append(
            "NO MODEL CARD was found: preprocessing was ASSUMED (input size from the model, RGB, pixel range "
            "[0, 1], bilinear resize, softmax outputs, the 43 GTSRB classes). If the model expects anything else, "
            "every figure in this report is meaningless. Provide a card with --model-card."
        )
    excluded = evidence["ingest"]["excluded"]
    if excluded:
        items = "".join(f"<li>{escape(e['path'])}: {escape(e['reason'])}</li>" for e in excluded)
        notes.append(f"{len(excluded)} image(s) could not be decoded and were EXCLUDED (--allow-corrupt-images):"
                     f"<ul>{items}</ul>")
    return "".join(f'<div class="warning">{note if "<ul>" in note else escape(note)}</div>' for note in notes)


def requirements_section(evidence: dict) -> str:
    rows = []
    for r in evidence["requirements"]:
        class_text = None if r["class"] is None else f"{r['class']} {r['class_name'] or ''}".strip()
        rows.append((
            r["id"], r["title"], r["hazard"], r["metric"], class_text, r["condition"], r["n"], r["successes"],
            r["value"], r["bound"], _requirement_text(r), r["margin"], r["verdict"],
        ))
    table = _table(
        ("ID", "Title", "Hazard", "Metric", "Class", "Condition", "n", "Successes", "Value",
         "Bound", "Threshold", "Margin", "Verdict"),
        rows, numeric=(6, 7, 8, 9, 11),
    )
    # colour the verdict cells
    for verdict, _ in VERDICT_LEGEND:
        table = table.replace(f"<td>{verdict}</td>", f'<td class="verdict-{verdict}">{verdict}</td>')
    notes = "".join(
        f"<li><strong>{escape(r['id'])}</strong>: {escape(_explain(r))}</li>"
        for r in evidence["requirements"] if r["verdict"] != "pass"
    )
    legend = "".join(f'<li><span class="verdict-{v}">{v}</span>: {escape(t)}</li>' for v, t in VERDICT_LEGEND)
    return (
        "<h2>Requirements</h2>"
        "<p>Rates are judged on exact one-sided Clopper–Pearson bounds at each requirement's confidence: the lower "
        "bound for a floor (&gt;=), the upper bound for a ceiling (&lt;=). Margin = how far the bound clears the "
        f"threshold (negative: it does not).</p>{table}"
        + (f"<p>Requirements not passed:</p><ul>{notes}</ul>" if notes else "")
        + f"<p>Verdicts:</p><ul>{legend}</ul>"
    )


def _requirement_text(r: dict) -> str:
    if r["threshold"] is None:
        return f"no counterexample within {r['parameters'].get('budget', 0):.0%} of the sign"
    return f"{r['direction']} {r['threshold']:g}"


def _explain(r: dict) -> str:
    if r["verdict"] == "not_applicable":
        return f"not applicable: {r['reason']}"
    if r["threshold"] is None:
        return f"{r['verdict']}: {r['reason']}"
    text = f"{r['verdict']}: value {r['value']} with bound {r['bound']} against {r['direction']} {r['threshold']}"
    if r["verdict"] == "insufficient_evidence":
        if r["samples_needed"] is not None:
            text += f"; {r['samples_needed']} samples would decide it at the observed error count (have {r['n']})"
        else:
            text += "; no sample size can decide it at the observed error count"
    return text


def model_section(evidence: dict) -> str:
    m = evidence["model"]
    card = m["card"]
    card_source = "ASSUMED (no card found)" if m["card_assumed"] else m["card_path"]
    pairs = [
        ("Path", m["path"]), ("Format", m["format"]), ("Loader", m["loader"]), ("SHA-256", m["sha256"]),
        ("Input shape", m["input_shape"]), ("Output shape", m["output_shape"]), ("Parameters", m["parameters"]),
        ("Model card", card_source),
    ] + [(f"card: {key}", value) for key, value in card.items() if key != "class_names"]
    if m["load_warnings"]:
        pairs.append(("Loader warnings", "; ".join(m["load_warnings"])))
    return "<h2>Model under test</h2>" + _key_values(pairs)


def ingest_section(evidence: dict) -> str:
    i = evidence["ingest"]
    pairs = [
        ("Path", i["path"]), ("Layout detected", i["layout"]), ("Label file", i["label_file"]),
        ("Labelled", i["labelled"]), ("Images", i["n"]), ("Images evaluated", i["evaluated"]),
        ("SHA-256 over label file and images", i["sha256"]),
    ]
    names = evidence.get("class_names") or []
    counts = [(k, names[int(k)] if int(k) < len(names) else "", v) for k, v in i["class_counts"].items()]
    count_table = _table(("ClassId", "Class", "Images"), counts, numeric=(0, 2)) if counts else "<p>No labels.</p>"
    return "<h2>Data ingest</h2>" + _key_values(pairs) + "<h3>Images per class</h3>" + count_table


def environment_section(evidence: dict) -> str:
    e = evidence["environment"]
    pairs = [
        ("Harness version", e["harness_version"]), ("Harness commit", e["harness_commit"]),
        ("Python", e["python"]), ("Platform", e["platform"]), ("Seed", e["seed"]),
    ] + [(name, version) for name, version in e["libraries"].items()]
    sources = [(f"Computed or from the cache: {stage}", source) for stage, source in evidence.get("predictions_from", {}).items()]
    return "<h2>Environment</h2>" + _key_values(pairs + sources)


def render(evidence: dict, sheets: dict) -> list[str]:
    """The report's top sections, in reading order; ``sheets`` maps perturbation names to contact-sheet images."""
    return [
        STYLE,
        '<div class="safety">',
        gate_section(evidence),
        warnings_section(evidence),
        requirements_section(evidence),
        perturbation_section(evidence, sheets),
        model_section(evidence),
        ingest_section(evidence),
        environment_section(evidence),
        "<h2>Test details</h2><p>One row per requirement case below; expand a row for the evidence behind "
        "its verdict (for a requirement not met: the samples that count against it).</p>",
        "</div>",
    ]


def _clean_reference(evidence: dict, result: dict):
    """The same metric on clean images: a comparison metric is 0 there by definition."""
    if result["metric"] in ("flip_rate", "accuracy_drop"):
        return 0.0
    for r in evidence["requirements"]:
        if (r["condition"] == str(CLEAN) and r["metric"] == result["metric"] and r["class"] == result["class"]
                and r["value"] is not None):
            return r["value"]
    return None


def robustness_charts(evidence: dict) -> str:
    """One chart per robustness requirement: the metric against severity, one line per perturbation."""
    from safety_harness.report.charts import line_chart_svg

    grouped: dict[str, dict[str, dict[int, dict]]] = {}
    for r in evidence["requirements"]:
        condition = Condition.parse(r["condition"])
        if not condition.is_clean and r["threshold"] is not None:
            grouped.setdefault(r["requirement"], {}).setdefault(condition.name, {})[condition.severity] = r
    charts = []
    for requirement_id, by_perturbation in grouped.items():
        any_result = next(iter(next(iter(by_perturbation.values())).values()))
        reference = _clean_reference(evidence, any_result)
        series = []
        for name, by_severity in by_perturbation.items():
            values = [reference] + [by_severity.get(s, {}).get("value") for s in range(1, 6)]
            bounds = [None] + [by_severity.get(s, {}).get("bound") for s in range(1, 6)]
            series.append((name, values, bounds))
        chart = line_chart_svg(["clean", 1, 2, 3, 4, 5], series, threshold=any_result["threshold"],
                               y_label=any_result["metric"])
        charts.append(f"<figure><figcaption><strong>{escape(requirement_id)}</strong>: "
                      f"{escape(any_result['title'])} (required {escape(_requirement_text(any_result))})"
                      f"</figcaption>{chart}</figure>")
    return "".join(charts)


def perturbation_section(evidence: dict, sheets: dict) -> str:
    """What each perturbation at each severity is: its parameters, a contact sheet, and the charts."""
    perturbations = evidence.get("perturbations") or {}
    if not perturbations:
        return ""
    parts = ["<h2>Perturbations</h2>",
             "<p>Each perturbation at each severity is defined by the parameters below; the contact sheets show "
             "a few signs of this ingest under it (top row clean, then severities 1 to 5). Perturbed images are a "
             f"pure function of image, perturbation, severity and seed ({escape(str(evidence['environment']['seed']))}).</p>",
             robustness_charts(evidence)]
    for name, definition in perturbations.items():
        rows = [(severity, ", ".join(f"{k}={v}" for k, v in params.items()))
                for severity, params in definition["severities"].items()]
        sheet = (f'<img src="{sheets[name]}" alt="contact sheet of {escape(name)}" '
                 'style="image-rendering: pixelated; width: 300px">' if name in sheets else "")
        parts.append(f"<h3>{escape(name)}: {escape(definition['description'])}</h3>"
                     f'<div style="display:flex;gap:16px;align-items:flex-start">'
                     f"{_table(('Severity', 'Parameters'), rows)}{sheet}</div>")
    return "".join(parts)
