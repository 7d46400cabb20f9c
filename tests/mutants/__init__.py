"""Deliberately broken backends (mutants) that the conformance suites must flag.

`tests.mutants.catalogue` lists them; `python -m tests.mutants` runs the suites on each and
prints which requirement flags which mutant; tests/test_mutants.py asserts it.
"""
