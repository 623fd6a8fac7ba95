"""Regenerate the committed JSON Schema of the evidence JSON from its pydantic model.

    python tools/write_evidence_schema.py

Run it after changing ``safety_harness/evidence/document.py``; tests/test_evidence_schema.py fails
while the committed file and the model differ.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safety_harness.evidence.document import SCHEMA_PATH, write_schema  # noqa: E402

if __name__ == "__main__":
    write_schema()
    print(f"wrote {SCHEMA_PATH}")
