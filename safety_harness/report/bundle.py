"""The evidence bundle: the evidence JSON and the exhibit files it references, in one folder.

A run writes the pictures its report shows (thumbnails, relevance maps, triggers, contact sheets) as
``exhibits/<sha256>.png`` beside the evidence file (:class:`ExhibitStore`); the document names them by that
relative path, and carries its charts as data. The report is rendered from the bundle alone
(:func:`read_bundle`, :meth:`Bundle.data_uri`), so a CI job's archived bundle re-renders it byte for byte.

Read as untrusted input: an exhibit must be a regular file inside the bundle's folder (no link out of it),
at most :data:`MAX_EXHIBIT_BYTES`, and its bytes must hash to its name; anything else is refused with one
message naming the file.
"""

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safety_harness.core.errors import HarnessInputError
from safety_harness.evidence.document import EvidenceDocument
from safety_harness.report.comparison import MAX_EVIDENCE_BYTES, read_evidence
from safety_harness.report.thumbnails import png_bytes

#: the bundle's folder of exhibit files, beside the evidence file
EXHIBITS = "exhibits"
#: the largest exhibit file a report embeds: far above the harness's own (a 448 x 448 PNG is under 1 MiB)
MAX_EXHIBIT_BYTES = 4 * 2**20
#: how an evidence file names an exhibit
_EXHIBIT_NAME = re.compile(rf"{EXHIBITS}/([0-9a-f]{{64}}\.png)")


class ExhibitStore:
    """Writes a run's pictures into ``folder``/exhibits, each named by the SHA-256 of its bytes (the same
    picture is one file, whichever run or case drew it)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def picture(self, image: np.ndarray, alt: str) -> dict:
        """Store ``image`` (uint8 RGB or grey) as PNG at its own size; the evidence's ``Picture``."""
        data = png_bytes(image)
        name = f"{EXHIBITS}/{hashlib.sha256(data).hexdigest()}.png"
        path = self.folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_bytes(data)
            temporary.replace(path)  # atomic: a killed run leaves no half picture under a valid name
        return {"file": name, "alt": alt}

    def prune(self, older_than: float) -> list[Path]:
        """Delete the exhibit files no JSON file of the folder names and last written before ``older_than``
        (seconds since the epoch; the run's start, so that a picture another run is writing now is left alone).
        Pictures are named by their content, so without this a folder that sees many models and ingests would
        keep every picture it ever held. Returns the deleted files."""
        named = set()
        for evidence in self.folder.glob("*.json"):
            if evidence.is_file() and evidence.stat().st_size <= MAX_EVIDENCE_BYTES:
                named.update(_EXHIBIT_NAME.findall(evidence.read_text(encoding="utf-8", errors="replace")))
        deleted = []
        for picture in (self.folder / EXHIBITS).glob("*.png"):
            if picture.name not in named and picture.is_file() and picture.stat().st_mtime < older_than:
                picture.unlink()
                deleted.append(picture)
        return deleted


@dataclass(frozen=True)
class Bundle:
    """An evidence document read from ``evidence`` (its bytes hash to ``evidence_sha256``), and its folder."""

    evidence: Path
    document: EvidenceDocument
    evidence_sha256: str

    def data_uri(self, file: str) -> str:
        """The exhibit ``file`` (relative to the bundle's folder) as a ``data:image/png`` URI, checked."""
        folder = self.evidence.parent.resolve()
        path = (folder / file).resolve()
        fix = f"re-render from the bundle the run wrote: {self.evidence} with its {EXHIBITS} folder beside it"
        if not path.is_relative_to(folder / EXHIBITS):
            raise HarnessInputError(f"exhibit {file} of {self.evidence} leads outside the bundle's folder "
                                    f"{folder / EXHIBITS} (to {path}); the report reads no file outside it", fix)
        if not path.is_file():
            raise HarnessInputError(f"exhibit file {path} named by {self.evidence} does not exist or is not a file",
                                    fix)
        size = path.stat().st_size
        if size > MAX_EXHIBIT_BYTES:
            raise HarnessInputError(f"exhibit file {path} has {size} bytes, more than the {MAX_EXHIBIT_BYTES} an "
                                    "exhibit may have", fix)
        data = path.read_bytes()
        if f"{hashlib.sha256(data).hexdigest()}.png" != path.name:
            raise HarnessInputError(f"exhibit file {path} does not hash to its name: it was changed after the run "
                                    "wrote it", fix)
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def read_bundle(evidence: Path) -> Bundle:
    """The bundle whose evidence file is ``evidence``; raises :class:`HarnessInputError` naming the file when the
    evidence cannot be read (see :func:`safety_harness.report.comparison.read_evidence`)."""
    evidence = Path(evidence)
    document = read_evidence(evidence)
    return Bundle(evidence, document, hashlib.sha256(evidence.read_bytes()).hexdigest())
