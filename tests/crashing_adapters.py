"""Deliberately broken backends for the runner's tests, loaded as `tests.crashing_adapters:Name`.

Each is the reference adapter with one way of dying: a native abort, a segfault, an endless loop
(in backward or in forward), an abort or an exception while the adapter is constructed, an engine
that raises while being imported, memory allocated without bound, a SIGKILL from outside, and one
plain wrong gradient (a nonconformance, not a crash); one more that is only noisy. The module
tests/raising_adapter_module.py raises as soon as it is imported. Most break only in gradient
computations, so tests that only run ops still pass first: the runner must keep those results
when the worker dies.

Also here: the fake requirements of tests/fake_suite.py, a tiny suite the runner tests run so that
they do not depend on (or wait for) the real suites.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from conformance.backends.reference import ReferenceAdapter
from conformance.spec.requirements import FUNCTIONAL, Area, Requirement


class AbortingAdapter(ReferenceAdapter):
    """A native engine whose backward hits a failed assertion: SIGABRT."""

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        os.abort()


class SegfaultingAdapter(ReferenceAdapter):
    """A native engine whose backward dereferences NULL: SIGSEGV."""

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        return ctypes.string_at(0)


class HangingAdapter(ReferenceAdapter):
    """An engine whose backward never returns."""

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        while True:
            pass


class ConstructorAbortingAdapter(ReferenceAdapter):
    """A native engine that aborts while starting up: loading it kills the process."""

    def __init__(self, device: str = "cpu") -> None:
        os.abort()


class CountedAdapter(ReferenceAdapter):
    """The reference, noting each construction (its process id, one line) in the file named by
    $CONFORMANCE_TEST_CONSTRUCTIONS: how many times a run builds an adapter, and where."""

    def __init__(self, device: str = "cpu") -> None:
        with open(os.environ["CONFORMANCE_TEST_CONSTRUCTIONS"], "a") as log:
            log.write(f"{os.getpid()}\n")
        super().__init__(device)


class ImportRaisingAdapter(ReferenceAdapter):
    """An adapter whose engine raises while being imported (a broken native extension, say)."""

    def __init__(self, device: str = "cpu") -> None:
        import tests.broken_engine  # noqa: F401 - raises RuntimeError

        super().__init__(device)


class DoubledGradientAdapter(ReferenceAdapter):
    """No crash: a wrong gradient (twice the true one), for failing reports and reproducers."""

    def vjp(
        self,
        fn: Callable[[Sequence[Any]], Sequence[Any]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        values, grads = super().vjp(fn, primals, cotangents)
        return values, [None if g is None else 2 * g for g in grads]


class ConstructorRaisingAdapter(ReferenceAdapter):
    """An adapter whose constructor raises a Python exception (a missing licence file, say)."""

    def __init__(self, device: str = "cpu") -> None:
        raise RuntimeError("engine licence not found: set ENGINE_LICENSE")


class ForwardLoopingAdapter(ReferenceAdapter):
    """An engine whose forward ops never return."""

    def apply(self, op: str, args: Sequence[Any], params: Any) -> Any:
        while True:
            pass


class MemoryHogAdapter(ReferenceAdapter):
    """An engine whose backward allocates without bound (a leak in a loop)."""

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        held = []
        while True:
            held.append(np.ones(2**24))  # 128 MiB a step, written to, so really allocated


class KilledAdapter(ReferenceAdapter):
    """A worker killed from outside mid-run, as the kernel's out-of-memory killer does."""

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)


class NoisyAdapter(ReferenceAdapter):
    """A correct engine that writes a lot to stdout and stderr (debug logging left on): about
    1 MiB per call of each, tens of MiB per run. Noise is not a fault: the run must complete."""

    LINE = "engine debug: " + "x" * 1010 + "\n"

    def vjp(self, *args: Any, **kwargs: Any) -> Any:
        os.write(1, (self.LINE * 1024).encode())
        os.write(2, (self.LINE * 1024).encode())
        return super().vjp(*args, **kwargs)


class NoDevicesAdapter(ReferenceAdapter):
    """Claims a device that never exists, to test the device error path."""

    devices: ClassVar[tuple[str, ...]] = ("cpu", "tpu")


class Incomplete:
    """Not an adapter: it lacks most of the protocol."""

    name: ClassVar[str] = "incomplete"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    def version(self) -> str:
        return "0"


FAKE_AREA = Area("A fake suite", FUNCTIONAL)

FAKE_REQUIREMENTS = (
    Requirement(
        "FAKE-001",
        "Forward values match the reference",
        statement="Forward values MUST match the reference engine's.",
        area=FAKE_AREA,
        capabilities=(),
        tolerances=(),
        source="tests/fake_suite.py",
    ),
    Requirement(
        "FAKE-002",
        "Gradients match the reference",
        statement="Vector-Jacobian products MUST match the reference engine's.",
        area=FAKE_AREA,
        capabilities=(),
        tolerances=(),
        source="tests/fake_suite.py",
    ),
    Requirement(
        "FAKE-003",
        "float8 gradients",
        statement="float8_e5m2 gradients MUST match the reference engine's.",
        area=FAKE_AREA,
        capabilities=("dtype:float8_e5m2",),  # a dtype no adapter declares
        tolerances=(),
        source="tests/fake_suite.py",
    ),
    Requirement(
        "FAKE-004",
        "Gradients of a product",
        statement="The gradient of x * y MUST be (y, x).",
        area=FAKE_AREA,
        capabilities=(),
        tolerances=(),
        source="tests/fake_suite.py",
    ),
)


def use_fake_catalogue(monkeypatch: Any) -> None:
    """Make this process's catalogue the fake one, as tests/fake_suite.py does in the worker."""
    from conformance.spec import requirements

    monkeypatch.setattr(requirements, "REQUIREMENTS", FAKE_REQUIREMENTS)
    monkeypatch.setattr(requirements, "BY_ID", {r.id: r for r in FAKE_REQUIREMENTS})
