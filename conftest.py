"""The safety harness as pytest plugins.

    pytest --model path/to/model.h5 --ingest new_data/

The options are registered by the installed plugin ``pytest_safety_harness`` (``make install``);
the fixtures and the collection hooks live in ``fixtures/plugin.py``, the HTML and JSON evidence
in ``fixtures/report_plugin.py``, the sample-size plan of a ``--plan`` run in ``fixtures/plan_plugin.py``.
"""

pytest_plugins = ["safety_harness.fixtures.plugin", "safety_harness.fixtures.report_plugin",
                  "safety_harness.fixtures.plan_plugin"]
