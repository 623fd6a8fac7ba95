"""Metric families: each in one place, registered in :mod:`safety_harness.families.registry`.

A family's module declares its parameter schema, what its metrics need of the requirements file and of
the run, its judging rule and its report text, and registers them as one
:class:`~safety_harness.families.registry.MetricFamily`; importing this package registers the bundled
families. A user's own family is registered with :func:`safety_harness.register_metric_family`.
"""

# the bundled families, imported to register them in the order their metrics are listed
# isort: off
from safety_harness.families import classification  # noqa: E402, F401
from safety_harness.families import counterexample  # noqa: E402, F401
from safety_harness.families import calibration  # noqa: E402, F401
from safety_harness.families import ood  # noqa: E402, F401
from safety_harness.families import monitor  # noqa: E402, F401
from safety_harness.families import relevance  # noqa: E402, F401
from safety_harness.families import sticker_attraction  # noqa: E402, F401
from safety_harness.families import trigger_scan  # noqa: E402, F401
from safety_harness.families import paired  # noqa: E402, F401
from safety_harness.families import leakage  # noqa: E402, F401
from safety_harness.families import training_shortcut  # noqa: E402, F401
# isort: on
