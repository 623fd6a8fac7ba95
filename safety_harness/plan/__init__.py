"""The run plan: requirements validated and expanded into cases, and what those cases need."""
