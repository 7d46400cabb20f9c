"""Conformance suites, written once against the adapter protocol."""
