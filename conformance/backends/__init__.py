"""Adapters shipped with the harness, one file each. Optional engines are imported lazily."""
