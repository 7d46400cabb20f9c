"""How an adapter maps the op table onto its engine: a derived default and a few per-engine lines.

The default, for every row of `conformance.spec.ops`: the op `name` is the function of that
name on the engine's namespace (`torch`, `jax.numpy`, `mygrad`, `paddle`; for tinygrad the
`Tensor` class, so `Tensor.sin(x)`), called as

    namespace.<name>(*operands, *params)

with the row's parameters in the row's order (`ops.positional_params`: absent ones take their
default, JSON lists become tuples). An engine lists only the ops it spells differently, each as
another (dotted) name on its namespace called by the same convention, or as a function
`(engine, operands, params) -> result` for what no single call expresses. An op whose name the
namespace lacks, and that has no line, is not mapped: it is left out of `Capabilities.ops`, and
requirements that need it are "not applicable" on that engine.

The namespace is resolved once, when the adapter is made (as array-api-tests resolves the array
library under test once), into a table of bound callables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from operator import attrgetter
from typing import Any

from conformance.spec.ops import OPS, positional_params

Custom = Callable[[Any, Sequence[Any], Mapping[str, Any]], Any]
"""A per-engine line that is not a name: (engine, operands, params) -> result."""
Spelling = str | Custom
Bound = Callable[[Sequence[Any], Mapping[str, Any]], Any]
"""An op resolved for one engine: (operands, params) -> result."""


def resolve(
    namespace: Any,
    overrides: Mapping[str, Spelling] | None = None,
    *,
    engine: Any = None,
    unsupported: Collection[str] = (),
) -> dict[str, Bound]:
    """Every op of the table the engine maps, bound: `overrides` first, else the same name on
    `namespace`. `engine` is what custom lines receive (default: the namespace)."""
    overrides = overrides or {}
    engine = namespace if engine is None else engine
    table: dict[str, Bound] = {}
    for name in OPS:
        if name in unsupported:
            continue
        spelling = overrides.get(name, name)
        if callable(spelling):
            table[name] = partial(spelling, engine)
            continue
        try:
            fn = attrgetter(spelling)(namespace)
        except AttributeError:
            continue  # the engine has no such function: the op is not supported
        table[name] = partial(_conventional, name, fn)
    return table


def ops_supported(
    namespace: Any,
    overrides: Mapping[str, Spelling] | None = None,
    unsupported: Collection[str] = (),
) -> frozenset[str]:
    """The ops an adapter with this namespace and these lines maps: its `Capabilities.ops`."""
    return frozenset(resolve(namespace, overrides, unsupported=unsupported))


def _conventional(
    op: str, fn: Callable[..., Any], args: Sequence[Any], params: Mapping[str, Any]
) -> Any:
    return fn(*args, *positional_params(op, params))
