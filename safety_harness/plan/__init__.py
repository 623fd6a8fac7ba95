"""The run plan: requirements validated and expanded into cases."""
