"""The engine of the safety harness, in the order data flows: core, ingest and synthetic data, the
plan (requirements, cases), the run (predictions, cache, uncertainty data), metrics, OOD
detectors, evidence and the report.

One import namespace holds the engine and the design's rooms: ``safety_harness.fixtures`` (the pytest
glue), ``safety_harness.model_under_test``, ``safety_harness.perturbations`` and
``safety_harness.safety_tests``. An installed distribution holds the rooms inside this package; a checkout
keeps them at the repository's top, beside it, and the finder below maps their names there, so that the
same imports run from both and nothing generic (``fixtures`` is another project's name on the package
index) lands at the top of ``sys.path``.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

#: the design's rooms, subpackages of this namespace
ROOMS = ("fixtures", "model_under_test", "perturbations", "safety_tests")


class _CheckoutRooms(importlib.abc.MetaPathFinder):
    """Finds ``safety_harness.<room>`` in the checkout's top-level folder of that name; their own submodules
    are then found through the room's ``__path__`` as usual."""

    def __init__(self, checkout: Path):
        self.checkout = checkout

    def find_spec(self, fullname, path=None, target=None):
        package, _, room = fullname.partition(".")
        if package != __name__ or room not in ROOMS:
            return None
        folder = self.checkout / room
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def _in_checkout(package: Path) -> bool:
    return not (package / ROOMS[0]).is_dir() and all((package.parent / room / "__init__.py").is_file()
                                                      for room in ROOMS)


_PACKAGE = Path(__file__).resolve().parent
if _in_checkout(_PACKAGE) and not any(isinstance(finder, _CheckoutRooms) and finder.checkout == _PACKAGE.parent
                                      for finder in sys.meta_path):
    sys.meta_path.insert(0, _CheckoutRooms(_PACKAGE.parent))

from safety_harness.core import __version__  # noqa: E402  (the rooms are findable before any import of them)

__all__ = ["ROOMS", "__version__"]
