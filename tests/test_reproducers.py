"""A failing check carries a reproducer that shows the failure on its own, and passes on a
correct engine; and the suites raise no false failure on the correct engines.

Reproducers come in two dialects (conformance.judge.checks): PyTorch's API, checked here by breaking
the reference engine itself (a patch applied both when the suite finds the failure and when the
reproducer runs in a fresh interpreter), and the adapter protocol, checked with small broken
adapters defined in this module (importable as tests.test_reproducers:Class).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autograd_conformance_suites import (
    test_accumulation,
    test_grad_layout,
    test_leaf_root,
    test_linear_bce,
    test_random_graphs,
    test_requires_grad,
)
from conformance.backends.reference import ReferenceAdapter
from conformance.judge.evidence import Nonconformance
from conformance.spec.render import render_program

REPO = Path(__file__).resolve().parent.parent


# -- broken adapters (adapter dialect) ----------------------------------------------------------
class LeafFromRequiresGrad(ReferenceAdapter):
    name = "leaf-from-requires-grad"

    def is_leaf(self, tensor: Any) -> bool:
        return not tensor.requires_grad


class NoGradIgnored(ReferenceAdapter):
    name = "no-grad-ignored"

    def no_grad(self) -> Any:
        return contextlib.nullcontext()


class VjpOneElementOff(ReferenceAdapter):
    name = "vjp-one-element-off"

    def vjp(self, fn: Any, primals: Any, cotangents: Any) -> Any:
        outputs, grads = super().vjp(fn, primals, cotangents)
        for g in grads:
            if g is not None and g.size:
                g.reshape(-1)[-1] += 0.5
                break
        return outputs, grads


class HalfGrad(ReferenceAdapter):
    name = "half-grad"

    def grad(self, tensor: Any) -> Any:
        g = super().grad(tensor)
        return None if g is None else g / 2


# -- patches of the reference engine (PyTorch dialect) ------------------------------------------
PATCHES = {
    "is_leaf": (
        "import autograd_conformance_reference as _re\n"
        "_re.Tensor.is_leaf = property(lambda self: not self.requires_grad)\n"
    ),
    "no_grad": (
        "import contextlib, autograd_conformance_reference as _re\n"
        "_re.no_grad = lambda: contextlib.nullcontext()\n"
    ),
    "assign": (
        "import numpy as _np, autograd_conformance_reference as _re\n"
        "def _assign(self, grad):\n"
        "    self._grad = _re.Tensor._wrap(_np.array(_np.broadcast_to(grad, self._data.shape),"
        " dtype=self._data.dtype))\n"
        "_re.Tensor._accumulate_grad = _assign\n"
    ),
    "add": (
        "import autograd_conformance_reference as _re\n"
        "_orig_add = _re.add\n"
        "_re.add = lambda a, b: _orig_add(a, b) * 1.5\n"
    ),
    "unstable_bce": (
        "import autograd_conformance_reference as _re\n"
        "def _bce(z, y, weight=None, pos_weight=None, reduction='mean'):\n"
        "    s = _re.sigmoid(z)\n"
        "    loss = -(y * _re.log(s) + (1 - y) * _re.log(1 - s))\n"
        "    loss = loss if weight is None else loss * weight\n"
        "    return loss if reduction == 'none' else getattr(_re, reduction)(loss)\n"
        "_re.nn.functional.binary_cross_entropy_with_logits = _bce\n"
    ),
}


def _run(source: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )


def _find(test: Callable[..., None], **fixtures: Any) -> Nonconformance:
    if "focus" in inspect.signature(test).parameters:
        fixtures.setdefault("focus", "add")  # per-op tests: "add" is the op the patch breaks
    with pytest.raises(Nonconformance) as caught:
        test(**fixtures)
    failure = caught.value
    assert failure.program is not None and failure.check, "a failure must carry a reproducer"
    assert "\n" not in failure.message and len(failure.message) < 400, failure.message
    return failure


def _assert_reproduces(source: str, clean_source: str) -> None:
    broken = _run(source)
    assert broken.returncode != 0 and "AssertionError" in broken.stderr, (
        f"the reproducer did not fail:\n{source}\n{broken.stdout}{broken.stderr}"
    )
    clean = _run(clean_source)
    assert clean.returncode == 0, f"the reproducer fails a correct engine:\n{clean.stderr}"


TORCH_DIALECT_CASES = [
    ("is_leaf", test_leaf_root.test_user_created_tensors_are_leaves, False),
    ("no_grad", test_leaf_root.test_no_grad_results_are_leaves, False),
    ("assign", test_accumulation.test_k_backward_calls_give_k_times_the_gradient, False),
    ("add", test_random_graphs.test_random_graph_gradients_match_reference, True),
    ("unstable_bce", test_linear_bce.test_bce_finite_at_extreme_logits, False),
]


@pytest.mark.parametrize(
    ("patch", "test", "oracle"), TORCH_DIALECT_CASES, ids=[c[0] for c in TORCH_DIALECT_CASES]
)
def test_pytorch_dialect_reproducer_shows_the_failure(
    patch: str, test: Callable[..., None], oracle: bool
) -> None:
    fixtures: dict[str, Any] = {}
    namespace: dict[str, Any] = {}  # the patch's globals
    with _patched(patch, namespace):
        fixtures["backend"] = ReferenceAdapter()
        if oracle:
            pytest.importorskip("torch", reason="the oracle is torch:cpu")
            from conformance.backends.torch import TorchAdapter

            fixtures["reference"] = TorchAdapter()
        failure = _find(test, **fixtures)
    rendered = render_program(failure.program, "reference")  # type: ignore[arg-type]
    reproducer = rendered + "\n" + (failure.check or "")
    _assert_reproduces(PATCHES[patch] + reproducer, reproducer)


@contextlib.contextmanager
def _patched(patch: str, namespace: dict[str, Any]) -> Any:
    import autograd_conformance_reference as reference_engine
    import autograd_conformance_reference.nn.functional as functional

    saved = {
        "Tensor.is_leaf": reference_engine.Tensor.__dict__["is_leaf"],
        "Tensor._accumulate_grad": reference_engine.Tensor.__dict__["_accumulate_grad"],
        "no_grad": reference_engine.no_grad,
        "add": reference_engine.add,
        "bce": functional.binary_cross_entropy_with_logits,
    }
    try:
        exec(PATCHES[patch], namespace)  # noqa: S102 - the patches above
        yield
    finally:
        setattr(reference_engine.Tensor, "is_leaf", saved["Tensor.is_leaf"])  # noqa: B010
        setattr(reference_engine.Tensor, "_accumulate_grad", saved["Tensor._accumulate_grad"])  # noqa: B010
        setattr(reference_engine, "no_grad", saved["no_grad"])  # noqa: B010
        reference_engine.add = saved["add"]
        functional.binary_cross_entropy_with_logits = saved["bce"]


ADAPTER_DIALECT_CASES = [
    (LeafFromRequiresGrad, test_leaf_root.test_user_created_tensors_are_leaves, False),
    (NoGradIgnored, test_requires_grad.test_requires_grad_propagates_under_grad_mode_blocks, False),
    (VjpOneElementOff, test_random_graphs.test_random_graph_gradients_match_reference, True),
    (HalfGrad, test_grad_layout.test_backward_leaves_reference_gradients, True),
]


@pytest.mark.parametrize(
    ("mutant", "test", "oracle"),
    ADAPTER_DIALECT_CASES,
    ids=[c[0].__name__ for c in ADAPTER_DIALECT_CASES],
)
def test_adapter_dialect_reproducer_shows_the_failure(
    mutant: type, test: Callable[..., None], oracle: bool
) -> None:
    fixtures: dict[str, Any] = {"backend": mutant()}
    if oracle:
        fixtures["reference"] = ReferenceAdapter()
    failure = _find(test, **fixtures)
    assert failure.program is not None
    broken = render_program(failure.program, f"tests.test_reproducers:{mutant.__name__}", "cpu")
    correct = render_program(
        failure.program, "conformance.backends.reference:ReferenceAdapter", "cpu"
    )
    check = failure.check or ""
    _assert_reproduces(broken + "\n" + check, correct + "\n" + check)


def test_failure_messages_name_what_failed() -> None:
    failure = _find(
        test_grad_layout.test_backward_leaves_reference_gradients,
        backend=HalfGrad(),
        reference=ReferenceAdapter(),
    )
    assert re.match(r"x\d+\.grad after backward of v\d+: got .* expected .*rtol", failure.message)


@pytest.mark.parametrize("spec", ["reference", "torch:cpu"])
def test_suites_pass_on_correct_engines(spec: str) -> None:
    """No false failures: the correct engines pass every suite test under the ci profile."""
    if spec.startswith("torch"):
        pytest.importorskip("torch")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "autograd_conformance_suites",
            "-p",
            "no:cacheprovider",
            "-q",
            "--conformance-backend",
            spec,
            "--conformance-profile",
            "ci",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, f"{spec}: {summary}\n{result.stdout[-3000:]}"
    assert "failed" not in summary and "error" not in summary, summary
    assert re.search(r"\d+ passed", summary), summary
