"""One evaluation run: the model, the ingest, the requirements and the predictions they share.

Every image is predicted once per condition and the result shared by all the
requirements that read it. Inputs are validated here, before any test runs, so bad
input ends the run with one :class:`HarnessInputError`.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessInputError
from ingest import iter_image_batches, load_image, open_ingest
from model_under_test import load_model
from safety_case.evidence import EvidenceLog
from safety_case.requirements import CLEAN, expand_cases, load_requirements


@dataclass(frozen=True)
class RunOptions:
    """Everything the user chose for this run (the command-line options)."""

    model_path: Path
    card_path: Path | None
    ingest_path: Path
    requirements_path: Path
    seed: int = 0
    allow_corrupt_images: bool = False
    allow_unsafe_model: bool = False
    batch_size: int = 256


@dataclass(frozen=True)
class Predictions:
    """The model's outputs on the evaluated images of one condition.

    ``indices`` are positions in ``ingest.records`` (images that failed to decode are
    not among them); ``labels`` holds -1 where the ingest has no label.
    """

    condition: str
    indices: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray | None
    features: np.ndarray | None

    @functools.cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @functools.cached_property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def labelled(self) -> bool:
        return bool(self.labels.size) and bool((self.labels >= 0).all())


class SafetyRun:
    """Loads and validates every input of a run; computes predictions on demand, once."""

    def __init__(self, options: RunOptions):
        self.options = options
        # cheapest checks first: a wrong path or layout is reported before TensorFlow is imported
        self.requirements = load_requirements(options.requirements_path)
        self.ingest = open_ingest(options.ingest_path)
        self.model = load_model(options.model_path, options.card_path, allow_unsafe=options.allow_unsafe_model)
        self.class_names = tuple(self.model.card.class_names)
        self.cases = expand_cases(self.requirements, len(self.class_names))
        self._check_ingest_labels()
        self.excluded: list[tuple[str, str]] = []
        self.evidence = EvidenceLog()

    def _check_ingest_labels(self):
        counts = self.ingest.class_counts()
        unknown = sorted(label for label in counts if label >= len(self.class_names))
        if unknown:
            raise HarnessInputError(
                f"Ingest {self.ingest.root} is labelled with class(es) {unknown} that the model does not have "
                f"(its card lists {len(self.class_names)} classes, 0..{len(self.class_names) - 1})",
                "Use a model card whose 'classes' cover the ingest's labels, or remove those images from the ingest.",
            )

    @functools.cached_property
    def clean(self) -> Predictions:
        """Predictions on the ingest as it is, every image through one batched forward pass."""
        predictions, failures = _predict_ingest(self.model, self.ingest, self.options.batch_size)
        if failures:
            listed = "\n".join(f"    {self.ingest.records[i].path}: {reason}" for i, reason in failures[:20])
            more = f"\n    ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            if not self.options.allow_corrupt_images:
                raise HarnessInputError(
                    f"Ingest {self.ingest.root}: {len(failures)} image(s) cannot be decoded:\n{listed}{more}",
                    "Replace or remove them, or pass --allow-corrupt-images to evaluate the rest "
                    "(the report then lists every excluded image).",
                )
            self.excluded = [(str(self.ingest.records[i].path), reason) for i, reason in failures]
        if not predictions.indices.size:
            raise HarnessInputError(
                f"Ingest {self.ingest.root}: no image could be evaluated", "Check that the ingest holds readable images."
            )
        return predictions

    def model_identity(self) -> dict:
        model = self.model
        return {
            "path": str(model.path),
            "format": model.format,
            "loader": model.loader,
            "sha256": model.sha256,
            "input_shape": list(model.input_shape),
            "output_shape": list(model.output_shape),
            "parameters": model.num_parameters,
            "card_path": None if model.card_path is None else str(model.card_path),
            "card_assumed": model.card_assumed,
            "card": model.card.to_dict(),
            "load_warnings": list(model.load_warnings),
        }

    def ingest_identity(self) -> dict:
        ingest = self.ingest
        return {
            "path": str(ingest.root),
            "layout": ingest.layout,
            "label_file": None if ingest.label_file is None else str(ingest.label_file),
            "labelled": ingest.labelled,
            "n": len(ingest.records),
            "evaluated": int(self.clean.indices.size),
            "sha256": ingest.content_sha256(),
            "class_counts": {str(k): v for k, v in sorted(ingest.class_counts().items())},
            "excluded": [{"path": path, "reason": reason} for path, reason in self.excluded],
        }

    def images(self, predictions: Predictions, positions) -> list[np.ndarray]:
        """The images behind ``positions`` of ``predictions``, as the model saw them (for the report)."""
        card = self.model.card
        return [load_image(self.ingest.records[int(predictions.indices[p])], card.size, card.resize) for p in positions]

    def predictions(self, condition: str) -> Predictions:
        if condition == CLEAN:
            return self.clean
        raise HarnessInputError(
            f"Condition {condition!r} is not available in this run",
            "Use 'clean' or a registered perturbation 'name:severity'.",
        )


def _predict_ingest(model, ingest, batch_size) -> tuple[Predictions, list[tuple[int, str]]]:
    indices, probabilities, logits, features, failures = [], [], [], [], []
    for batch in iter_image_batches(ingest, model.card.size, model.card.resize, batch_size=batch_size):
        failures.extend(batch.failures)
        if not len(batch.indices):
            continue
        outputs = model.predict(batch.images)
        indices.append(batch.indices)
        probabilities.append(outputs.probabilities)
        logits.append(outputs.logits)
        features.append(outputs.features)
    indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    labels = np.array([ingest.records[i].label if ingest.records[i].label is not None else -1 for i in indices],
                      dtype=np.int64)
    predictions = Predictions(
        condition=CLEAN,
        indices=indices,
        labels=labels,
        probabilities=np.concatenate(probabilities) if probabilities else np.zeros((0, 0), np.float32),
        logits=None if not logits or logits[0] is None else np.concatenate(logits),
        features=None if not features or features[0] is None else np.concatenate(features),
    )
    return predictions, failures
