"""This checkout's own pytest configuration, beside ``pytest.ini``.

    pytest                                        # the bundled requirements on the bundled model and ingest
    pytest --model path/to/model.h5 --ingest new_data/

The harness's plugins (options, fixtures, collection hooks, report, ``--plan``) are registered by the
installed ``pytest11`` plugin, ``fixtures/options.py`` (``make install``), here as in any user's folder, so
that a checkout and an installed wheel run the same code; a ``pytest_plugins`` line here would be refused
whenever this folder is collected from another rootdir. What stays here is what only a checkout has: the
commit of the harness that judges the model, printed in the header of every run from it (the evidence
records it too), so that a CI log names the code behind its verdicts.
"""

from safety_harness.core.environment import harness_commit


def pytest_report_header(config):
    return f"safety harness checkout: {config.rootpath} at commit {harness_commit()}"
