"""Importing the harness, and using the reference engine, imports no optional engine.

A run against one engine must not pay for (or be broken by) another engine's import, so every
check happens in a fresh interpreter and reads `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OPTIONAL_ENGINES = ("torch", "jax", "jaxlib", "tinygrad", "paddle", "mygrad", "micrograd")


def imported_after(setup: str) -> dict[str, list[str]]:
    """Runs `setup` in a fresh interpreter; returns the top-level modules it newly imported."""
    script = textwrap.dedent(
        """
        import json, sys
        before = {name.partition(".")[0] for name in sys.modules}
        {setup}
        after = {name.partition(".")[0] for name in sys.modules}
        print(json.dumps({"new": sorted(after - before), "all": sorted(after)}))
        """
    ).replace("{setup}", textwrap.dedent(setup))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_harness_imports_no_engine() -> None:
    modules = imported_after(
        """
        import conformance, conformance.backends.registry, conformance.plugin
        import conformance.protocol, conformance.spec.ops, conformance.spec.render
        import conformance.spec.program, conformance.spec.tolerances, conformance.spec.requirements
        import conformance.judge.evidence, conformance.judge.numerics, conformance.judge.checks
        import conformance.run.cli, conformance.run.runner, conformance.report
        """
    )
    assert "conformance" in modules["new"]
    assert [m for m in OPTIONAL_ENGINES if m in modules["all"]] == []


def test_loading_and_running_the_reference_backend_imports_no_engine() -> None:
    modules = imported_after(
        """
        import numpy as np
        from conformance.spec.program import Apply, Input, Program
        from conformance.backends.registry import known_backends, load_backend
        known_backends()
        adapter = load_backend("reference")
        program = Program(
            (Input("x", np.array([1.0, -2.0, 3.0]), True),),
            (Apply("y", "mul", ("x", "x")), Apply("z", "sum", ("y",), {"dim": None})),
            ("z",),
        )
        outputs, grads = program.vjp(adapter, [np.array(1.0)])
        assert outputs[0].item() == 14.0 and grads[0].tolist() == [2.0, -4.0, 6.0], grads
        """
    )
    assert "autograd_conformance_reference" in modules["new"]
    assert [m for m in OPTIONAL_ENGINES if m in modules["all"]] == []


def test_reference_engine_imports_only_numpy_and_the_standard_library() -> None:
    modules = imported_after(
        """
        import autograd_conformance_reference as torch
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]
        """
    )
    allowed = set(sys.stdlib_module_names) | {"numpy", "autograd_conformance_reference"}
    # numpy.random's Cython extensions register these runtime shims; they are not packages.
    cython_shims = {m for m in modules["new"] if m.startswith("_cython_") or m == "cython_runtime"}
    assert sorted(set(modules["new"]) - allowed - cython_shims) == []


def test_listing_backends_imports_no_adapter_in_this_process() -> None:
    """`conformance list` loads every installed adapter, each in its own probe subprocess: the
    process that lists them imports none (an adapter that aborts cannot take it down)."""
    modules = imported_after(
        """
        import contextlib, io
        from conformance.run.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as listing:
            assert main(["list"]) == 0
        assert "reference  installed; devices: cpu" in listing.getvalue(), listing.getvalue()
        adapters = [m for m in sys.modules if m.startswith("conformance.backends.")]
        assert adapters == ["conformance.backends.registry"], adapters
        """
    )
    assert [m for m in OPTIONAL_ENGINES if m in modules["all"]] == []
    assert "autograd_conformance_reference" not in modules["all"]
