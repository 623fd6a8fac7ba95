"""Metric families: each in one place, registered in :mod:`safety_harness.families.registry`.

A family's module declares its parameter schema, what its metrics need of the requirements file and of
the run, its judging rule and its report text, and registers them as one
:class:`~safety_harness.families.registry.MetricFamily`; importing :mod:`safety_harness.families.bundled`
registers the bundled families. A user's own family is registered with
:func:`safety_harness.register_metric_family`.
"""

