"""The report as a pure function of the evidence bundle (``python -m safety_harness.report EVIDENCE.json --html
OUT.html``): pictures embedded from the bundle's exhibit files, and a hostile bundle refused with one message
naming the file (exit 4). The re-render of a real run's bundle is in tests/test_end_to_end.py."""

import base64
import json
import os
import re
import shutil

import jsonschema
import numpy as np
import pytest

from safety_harness.evidence.document import EvidenceDocument, load_schema, write_document
from safety_harness.evidence.results import Reliability, RequirementResult
from safety_harness.metrics.calibration import reliability_bins
from safety_harness.metrics.verdicts import Verdict
from safety_harness.plan.requirements import CLEAN, Requirement, RequirementCase
from safety_harness.report import bundle as report_bundle
from safety_harness.report.__main__ import main
from safety_harness.report.bundle import MAX_EXHIBIT_BYTES, ExhibitStore, read_bundle
from safety_harness.report.exhibit_html import exhibit_html
from safety_harness.report.exhibits import record_exhibits
from safety_harness.report.thumbnails import thumbnail_gallery
from tests.conftest import report_without_tensorflow
from tests.evidence_samples import sample_evidence

SIGN = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)


@pytest.fixture
def bundle(tmp_path):
    """A bundle as a run writes it: the sample evidence with a gallery of one stored thumbnail under its failing
    case; returns the evidence path and the thumbnail's file."""
    folder = tmp_path / "bundle"
    gallery = thumbnail_gallery(ExhibitStore(folder), [SIGN], ["missed <sign>.png"], "Missed signs")
    evidence = sample_evidence()
    (failing,) = [r for r in evidence["requirements"] if r["verdict"] == "fail"]
    failing["exhibits"] = [gallery]
    write_document(folder / "evidence.json", EvidenceDocument.model_validate(evidence))
    return folder / "evidence.json", gallery.figures[0].pictures[0].file


def test_the_report_embeds_each_picture_of_the_bundle_and_is_the_same_on_every_render(bundle, tmp_path):
    evidence, picture = bundle
    assert main([str(evidence), "--html", str(tmp_path / "a.html")]) == 0
    # elsewhere, from a copy of the bundle, in a process that cannot import TensorFlow, Keras or tf_keras
    copy = shutil.copytree(evidence.parent, tmp_path / "copy")
    completed = report_without_tensorflow(copy / "evidence.json", "--html", tmp_path / "b.html")
    assert completed.returncode == 0, completed.stderr
    html = (tmp_path / "a.html").read_bytes()
    assert html == (tmp_path / "b.html").read_bytes()
    data_uri = "data:image/png;base64," + base64.b64encode((evidence.parent / picture).read_bytes()).decode()
    assert f'<img src="{data_uri}" alt="missed &lt;sign&gt;.png">'.encode() in html
    # one self-contained file: no picture, script or style sheet is fetched
    assert not re.search(rb'<(img|script|link)[^>]+(src|href)="(?!data:)', html)


def test_pictures_no_evidence_names_are_pruned_and_the_others_kept(bundle):
    """A folder that sees many runs keeps the pictures some evidence file in it names, and a picture written
    since the run started (another run's, not yet named) is left alone."""
    evidence, picture = bundle
    store = ExhibitStore(evidence.parent)
    orphan = evidence.parent / store.picture(SIGN[::-1], "an older run's picture")["file"]
    kept_elsewhere = evidence.parent / store.picture(SIGN[:, ::-1], "named by a copied evidence file")["file"]
    (evidence.parent / "an older run.json").write_text(f'{{"file": "exhibits/{kept_elsewhere.name}"}}')
    started = orphan.stat().st_mtime + 1
    fresh = evidence.parent / store.picture(SIGN[:2], "being written by another run")["file"]
    os.utime(fresh, (started + 1, started + 1))
    assert store.prune(older_than=started) == [orphan]
    assert (evidence.parent / picture).is_file() and kept_elsewhere.is_file() and fresh.is_file()
    assert not orphan.exists()
    assert main([str(evidence), "--html", str(evidence.parent / "a.html")]) == 0


def test_a_charts_data_survives_the_json_and_draws_the_same_chart(tmp_path):
    """A reliability diagram with empty bins (no accuracy: null in the JSON, not NaN) is drawn from the
    bundle as from the run's data."""
    probabilities, labels = np.array([[0.9, 0.1], [0.35, 0.65], [0.6, 0.4]]), np.array([0, 1, 1])
    case = RequirementResult(RequirementCase(Requirement("SR-X", "t", "h", "ece", 0.1, "<=", 0.95), None, CLEAN),
                             Verdict.PASS, exhibits=(Reliability(reliability_bins(probabilities, labels, 10)),))
    (chart,) = record_exhibits(case, None, ExhibitStore(tmp_path))
    assert chart.accuracy.count(None) == 7 and len(chart.count) == 10
    evidence = sample_evidence()
    evidence["requirements"][0]["exhibits"] = [chart]
    write_document(tmp_path / "evidence.json", EvidenceDocument.model_validate(evidence))
    jsonschema.validate(json.loads((tmp_path / "evidence.json").read_text()), load_schema())
    (read,) = read_bundle(tmp_path / "evidence.json").document.requirements[0].exhibits
    assert read == chart and exhibit_html(read, None) == exhibit_html(chart, None)
    assert "3 of 10 bins hold samples" in exhibit_html(read, None)


def refused(evidence, tmp_path, capsys) -> str:
    """The command's one message for ``evidence``, which it must refuse with exit code 4 and no report."""
    assert main([str(evidence), "--html", str(tmp_path / "out.html")]) == 4
    message = capsys.readouterr().err
    assert message.startswith("error: ") and "How to fix" in message and "Traceback" not in message
    assert not (tmp_path / "out.html").exists()
    return message


def test_an_exhibit_named_outside_the_bundles_folder_is_refused(bundle, tmp_path, capsys):
    evidence, picture = bundle
    document = json.loads(evidence.read_text())
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    (failing,) = [r for r in document["requirements"] if r["exhibits"]]
    failing["exhibits"][0]["figures"][0]["pictures"][0]["file"] = "../secret.png"
    evidence.write_text(json.dumps(document))
    message = refused(evidence, tmp_path, capsys)
    # an exhibit is named exhibits/<sha256>.png or the evidence is not read at all
    assert f"evidence file {evidence} does not follow the evidence schema" in message
    assert ".pictures.0.file: String should match pattern '^exhibits/[0-9a-f]{64}" in message


def test_an_exhibit_that_links_out_of_the_bundles_folder_is_refused(bundle, tmp_path, capsys):
    evidence, picture = bundle
    outside = tmp_path / "secret.png"
    outside.write_bytes((evidence.parent / picture).read_bytes())
    (evidence.parent / picture).unlink()
    os.symlink(outside, evidence.parent / picture)
    message = refused(evidence, tmp_path, capsys)
    assert f"exhibit {picture} of {evidence} leads outside the bundle's folder" in message and str(outside) in message


def test_an_oversized_exhibit_is_refused_before_it_is_read(bundle, tmp_path, capsys, monkeypatch):
    evidence, picture = bundle
    size = (evidence.parent / picture).stat().st_size
    monkeypatch.setattr(report_bundle, "MAX_EXHIBIT_BYTES", size - 1)
    message = refused(evidence, tmp_path, capsys)
    assert f"exhibit file {evidence.parent / picture} has {size} bytes, more than the {size - 1}" in message
    assert MAX_EXHIBIT_BYTES == 4 * 2**20  # the cap a run's own pictures stay far below


def test_a_missing_exhibit_is_refused(bundle, tmp_path, capsys):
    evidence, picture = bundle
    (evidence.parent / picture).unlink()
    message = refused(evidence, tmp_path, capsys)
    assert f"exhibit file {evidence.parent / picture} named by {evidence} does not exist" in message


def test_an_exhibit_changed_after_the_run_is_refused(bundle, tmp_path, capsys):
    evidence, picture = bundle
    (evidence.parent / picture).write_bytes(b"\x89PNG another picture")
    message = refused(evidence, tmp_path, capsys)
    assert f"exhibit file {evidence.parent / picture} does not hash to its name" in message


def test_evidence_of_another_schema_version_is_refused(bundle, tmp_path, capsys):
    evidence, _ = bundle
    evidence.write_text(json.dumps({**json.loads(evidence.read_text()), "schema_version": "1.0"}))
    message = refused(evidence, tmp_path, capsys)
    assert f"evidence file {evidence} has schema version '1.0'" in message
