"""The engine of the safety harness, in the order data flows: core, ingest and synthetic data, the
plan (requirements, cases), the run (predictions, cache, uncertainty data), metrics, OOD
detectors, evidence and the report."""

from safety_harness.core import __version__

__all__ = ["__version__"]
