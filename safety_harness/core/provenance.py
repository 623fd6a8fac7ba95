"""Where a data set of the evidence comes from: a folder the user gave (``real``) or the harness's own generators.

A run's verdicts are only release evidence when they stand on real data. The bundled default
ingest and reference are rendered by the bundled renderer, and the model card of a model trained on
renders can say so (``training_data``): the evidence then records that the ingest comes from the
generator the model was trained on, and the report that the gate is a demonstration.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

REAL = "real"
GENERATED = "generated"
PROVENANCES = (REAL, GENERATED)


@dataclass(frozen=True)
class Generated:
    """Data made by a generator: ``generator`` names the code and its version (None: unnamed), ``seed`` the
    draw (None: not known, e.g. training data as a model card describes it)."""

    generator: str | None
    seed: int | None
    description: str


def data_set(role: str, name: str, sha256: str | None, source: "str | Generated") -> dict:
    """One data set of the evidence's ``data`` section: ``source`` is how it was generated, or the description
    of a real one (a folder the user gave, training data a card calls real)."""
    generated = isinstance(source, Generated)
    return {"role": role, "name": name, "provenance": GENERATED if generated else REAL,
            "description": source.description if generated else source, "sha256": sha256,
            "generator": source.generator if generated else None, "seed": source.seed if generated else None}


def images_sha256(images: np.ndarray) -> str:
    """SHA-256 over an image array's shape and its uint8 bytes (C order): the content hash of a generated set."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    digest = hashlib.sha256(repr(images.shape).encode())
    digest.update(images.tobytes())
    return digest.hexdigest()


def same_generator(data_sets: list[dict]) -> list[str]:
    """The names of the generated evaluation sets (ingest, reference, OOD sets) drawn from a generator that
    also made the model's training data (a ``training`` set of ``data_sets``, as its card names it)."""
    trained_on = {d["generator"] for d in data_sets if d["role"] == "training" and d["generator"]}
    return [d["name"] for d in data_sets if d["role"] != "training" and d["generator"] in trained_on]
