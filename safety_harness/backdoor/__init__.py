"""Backdoor detection: reverse-engineering the triggers a poisoned model responds to (Neural Cleanse)."""
