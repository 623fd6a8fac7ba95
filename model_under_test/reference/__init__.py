"""The bundled reference model: a small CNN trained on synthetic renders (see README.md here)."""

from pathlib import Path

BUNDLED_MODEL = Path(__file__).resolve().parent / "gtsrb_reference.keras"
