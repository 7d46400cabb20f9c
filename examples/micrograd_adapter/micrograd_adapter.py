"""A conformance adapter for micrograd 0.1.0, Andrej Karpathy's scalar autograd engine.

micrograd has one type, `Value`: a Python float with `+`, `*`, `**` (number exponents), `relu`
and `backward()`, which sets the root's `.grad` to 1 and accumulates into `.grad` of every node
it reaches. A tensor here is a NumPy object array of Values: layout ops (reshape, transpose,
expand, index) only rearrange Values, and every number is computed and differentiated by
micrograd itself. What micrograd lacks is declared, never emulated: no leaves, requires_grad,
grad_fn, no-grad mode or retain_graph (functional level only); one dtype (float64); no exp, log,
sigmoid, tanh, abs or comparisons. The suites report what needs those as "not applicable".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import ops_supported, resolve
from conformance.protocol import Capabilities, EngineMissing
from conformance.spec.ops import ALL_OPS, expanded_shape


def _objects(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=object)


class MicrogradOps:
    """The op set on arrays of micrograd Values: the adapter's namespace. Each op is a function
    of this name called as `MicrogradOps.<op>(*operands, *params)` (the convention of
    conformance.backends.opmap); binary ops call the Values' own operators through NumPy,
    broadcasting as PyTorch does. An op of the table missing here is one micrograd lacks."""

    neg = staticmethod(lambda x: _each(lambda v: -v, _objects(x)))
    relu = staticmethod(lambda x: _each(lambda v: v.relu(), _objects(x)))
    pow = staticmethod(lambda x, exponent: _each(lambda v: v**exponent, _objects(x)))
    add = staticmethod(lambda x, y: _objects(np.add(_objects(x), _objects(y))))
    sub = staticmethod(lambda x, y: _objects(np.subtract(_objects(x), _objects(y))))
    mul = staticmethod(lambda x, y: _objects(np.multiply(_objects(x), _objects(y))))
    div = staticmethod(lambda x, y: _objects(np.true_divide(_objects(x), _objects(y))))
    matmul = staticmethod(lambda x, y: _objects(np.matmul(_objects(x), _objects(y))))
    transpose = staticmethod(lambda x, dim0, dim1: np.swapaxes(_objects(x), dim0, dim1))
    reshape = staticmethod(lambda x, shape: np.reshape(_objects(x), shape))
    index = staticmethod(lambda x, indices: _objects(x)[np.asarray(indices, dtype=np.int64)])

    @staticmethod
    def sum(x: Any, dim: Any, keepdim: bool) -> np.ndarray:
        return _objects(np.sum(_objects(x), axis=dim, keepdims=keepdim))

    @staticmethod
    def mean(x: Any, dim: Any, keepdim: bool) -> np.ndarray:
        total = MicrogradOps.sum(x, dim, keepdim)
        count = _objects(x).size // max(total.size, 1)
        return _each(lambda v: v / count, total)

    @staticmethod
    def expand(x: Any, shape: Sequence[int]) -> np.ndarray:
        return np.broadcast_to(_objects(x), expanded_shape(np.shape(x), shape))


MAPPED = ops_supported(MicrogradOps)


class MicrogradAdapter:
    name: ClassVar[str] = "micrograd"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: ClassVar[Capabilities] = Capabilities.functional_only(
        integer_tensors=False,
        dtypes=frozenset({"float64"}),
        ops=MAPPED,
        notes={
            "tape": "micrograd has no leaves, requires_grad or grad_fn; backward() fills all .grad",
            "graph": "micrograd's graph (Value._prev) is private and has no accumulate nodes",
            "retain_graph": "micrograd frees nothing after backward(): there is nothing to retain",
            "retain_grad": "every micrograd Value has .grad; there is no opt-in",
            "no_grad": "micrograd always records",
            "requires_grad_toggle": "micrograd has no requires_grad",
            "integer_tensors": "micrograd Values hold Python floats only",
            "dtype:float32": "micrograd Values hold Python floats (float64) only",
            **{f"op:{op}": f"micrograd has no {op}" for op in sorted(ALL_OPS - MAPPED)},
        },
    )

    def __init__(self, device: str = "cpu") -> None:
        try:
            from micrograd.engine import Value
        except ImportError as exc:
            raise EngineMissing("micrograd", install="pip install micrograd") from exc
        self.Value = Value
        self.device = device
        self._ops = resolve(MicrogradOps)

    def version(self) -> str:
        return version("micrograd")

    def environment(self) -> dict[str, Any]:
        return {"micrograd_version": self.version()}

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> np.ndarray:
        array = np.asarray(array)
        if array.dtype != np.float64:
            raise TypeError(f"micrograd holds Python floats only, not {array.dtype}")
        return _each(lambda x: self.Value(float(x)), array)

    def to_numpy(self, tensor: np.ndarray) -> np.ndarray:
        # getattr: an empty reduction leaves NumPy's integer 0 where a Value would be.
        return _each(lambda v: getattr(v, "data", v), np.asarray(tensor)).astype(np.float64)

    def apply(self, op: str, args: Sequence[np.ndarray], p: Mapping[str, Any]) -> np.ndarray:
        if op not in self._ops:
            raise NotImplementedError(f"micrograd has no {op!r}: it is not in capabilities.ops")
        return self._ops[op](args, p)

    def vjp(
        self,
        fn: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p) for p in primals]
        outputs = [np.asarray(o, dtype=object) for o in fn(leaves)]
        values = [self.to_numpy(o) for o in outputs]
        # micrograd differentiates a scalar: the VJP is the gradient of sum(output * cotangent),
        # built with micrograd's own * and + (pairwise, to keep its recursive walk shallow).
        terms = [
            v * float(c)
            for out, cot in zip(outputs, cotangents, strict=True)
            for v, c in zip(out.flat, np.broadcast_to(cot, out.shape).flat, strict=True)
            if isinstance(v, self.Value)
        ]
        if not terms:
            return values, [None] * len(leaves)
        while len(terms) > 1:
            odd = [terms[-1]] if len(terms) % 2 else []
            terms = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)] + odd
        reached = _reachable(terms[0])
        for node in reached.values():
            node.grad = 0  # backward() accumulates into whatever .grad holds
        terms[0].backward()
        return values, [
            _each(lambda v: v.grad, leaf).astype(np.float64)
            if any(id(v) in reached for v in leaf.flat)
            else None  # as autograd.grad(allow_unused=True): the input reaches no output
            for leaf in leaves
        ]


def _each(fn: Callable[[Any], Any], array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    for index, item in np.ndenumerate(array):
        out[index] = fn(item)
    return out


def _reachable(root: Any) -> dict[int, Any]:
    seen: dict[int, Any] = {}
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            pending.extend(node._prev)
    return seen
