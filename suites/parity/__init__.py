"""Device parity: the same programs on two backends (CPU and CUDA, or any pair) must agree.

Collected only when a counterpart is named: `--conformance-parity-with SPEC` (e.g.
`--conformance-backend torch:cuda --conformance-parity-with torch:cpu`). The CPU tests pair
`reference` with `torch:cpu`, so this suite's logic is checked on every CI run, not only on GPU
machines.
"""
