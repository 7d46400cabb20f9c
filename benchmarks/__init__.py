"""Benchmarks: the reference engine against PyTorch CPU, the suites' throughput and the cost of
numerical gradient checks. Run with `tox -e bench` (see benchmarks/README.md); never collected
by the project's own `pytest` run, whose testpaths is tests/."""
