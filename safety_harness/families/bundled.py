"""The registry with the bundled families in it: import from here what reads every family.

The family modules are imported in the order their metrics are listed (in messages and ``--plan``); a family
module imports the registry, never this module, so that a family's judge may import the evidence it builds.
"""

from safety_harness.families.registry import FAMILIES, METRICS, family_of

# isort: off
from safety_harness.families import classification  # noqa: F401 — imported to register it
from safety_harness.families import counterexample  # noqa: F401
from safety_harness.families import calibration  # noqa: F401
from safety_harness.families import ood  # noqa: F401
from safety_harness.families import monitor  # noqa: F401
from safety_harness.families import relevance  # noqa: F401
from safety_harness.families import sticker_attraction  # noqa: F401
from safety_harness.families import trigger_scan  # noqa: F401
from safety_harness.families import paired  # noqa: F401
from safety_harness.families import leakage  # noqa: F401
from safety_harness.families import training_shortcut  # noqa: F401
# isort: on

__all__ = ["FAMILIES", "METRICS", "family_of"]
