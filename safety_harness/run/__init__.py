"""The run: predictions computed once and cached, uncertainty data."""
