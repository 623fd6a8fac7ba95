"""Evidence: the typed results of a run and the gate."""
