"""The backward graph: which leaves a root reaches, and through which accumulate nodes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, evaluate_line

from .requirement import requirement
from .support import draw_program, float_roots, leaf_ancestors

WALK_TORCH = """\
def _walk(node):
    seen, stack, found, keep = set(), [node], [], []
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        keep.append(n)
        if getattr(n, 'variable', None) is not None:
            found.append((n, n.variable))
        stack.extend(f for f, _ in n.next_functions)
    return found"""

WALK_ADAPTER = """\
def _walk(node):
    seen, stack, found, keep = set(), [node], [], []
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        keep.append(n)
        if adapter.accumulated_tensor(n) is not None:
            found.append((n, adapter.accumulated_tensor(n)))
        stack.extend(adapter.next_nodes(n))
    return found"""


def walk(adapter: Any, root: Any) -> list[tuple[Any, Any]]:
    """(accumulate node, leaf) pairs reachable from the root's grad_fn, each node once."""
    seen: set[int] = set()
    keep: list[Any] = []  # hold every node so that ids stay unique while walking
    stack = [adapter.grad_fn(root)]
    found = []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        keep.append(node)
        leaf = adapter.accumulated_tensor(node)
        if leaf is not None:
            found.append((node, leaf))
        stack.extend(adapter.next_nodes(node))
    return found


def _names(env: dict[str, Any], tensors: list[Any]) -> list[str]:
    by_id = {id(t): name for name, t in env.items()}
    return sorted(by_id.get(id(t), "<a tensor not in the program>") for t in tensors)


@requirement("GRAPH-001")
@given(data=st.data())
def test_backward_graph_reaches_exactly_the_leaves_that_require_grad(
    backend: Any, data: st.DataObject
) -> None:
    program = draw_program(data, backend)
    env = program.evaluate(backend, program.make_inputs(backend))
    inputs = {i.name for i in program.inputs}
    for root in float_roots(program):
        want = leaf_ancestors(program, root)
        reached = [leaf for _, leaf in walk(backend, env[root])]
        got_names = _names({k: v for k, v in env.items() if k in inputs}, reached)
        if sorted(set(got_names)) != sorted(want):
            repro = Repro(backend).line(WALK_TORCH, evaluate_line() + "\n" + WALK_ADAPTER)
            names = sorted(want)
            want_src = "{" + ", ".join(f"id({n})" for n in names) + "}" if names else "set()"
            want_adapter = (
                "{" + ", ".join(f"id(env[{n!r}])" for n in names) + "}" if names else "set()"
            )
            repro.line(
                f"got = {{id(v) for _, v in _walk({root}.grad_fn)}}; assert got == {want_src}, "
                f"'the graph of {root} reaches other leaves than {names}'",
                f"got = {{id(v) for _, v in _walk(adapter.grad_fn(env[{root!r}]))}}; "
                f"assert got == {want_adapter}, 'the graph of {root} reaches other leaves "
                f"than {names}'",
            )
            raise repro.fail(
                f"the backward graph of {root} reaches leaves {got_names}; expected exactly "
                f"{names} (the inputs requiring grad that {root} depends on)",
                program,
            )


@requirement("GRAPH-002")
@given(data=st.data())
def test_one_accumulate_node_per_leaf(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    # Keyed by the leaf object, not its name: an engine may wrap constants as fresh leaves of
    # its own, each with its own accumulate node, and those are distinct leaves, not one.
    nodes: dict[int, list[Any]] = {}
    leaves: dict[int, Any] = {}  # also keeps every leaf alive, so that ids stay unique
    keep: list[Any] = []
    for root in float_roots(program):
        for node, leaf in walk(backend, env[root]):
            keep.append(node)
            leaves[id(leaf)] = leaf
            known = nodes.setdefault(id(leaf), [])
            if not any(node is other for other in known):
                known.append(node)
    named = {i.name: t for i, t in zip(program.inputs, tensors, strict=True)}
    for key, found in nodes.items():
        name = _names(named, [leaves[key]])[0]
        if len(found) > 1:
            repro = Repro(backend).line(WALK_TORCH, evaluate_line() + "\n" + WALK_ADAPTER)
            roots = float_roots(program)
            repro.line(
                f"nodes = {{id(n) for r in [{', '.join(roots)}] for n, v in _walk(r.grad_fn) "
                f"if v is {name}}}",
                f"nodes = {{id(n) for r in {roots!r} for n, v in "
                f"_walk(adapter.grad_fn(env[r])) if v is env[{name!r}]}}",
            )
            repro.line(
                f"assert len(nodes) == 1, f'{name} is reached through {{len(nodes)}} "
                "accumulate nodes'"
            )
            raise repro.fail(
                f"leaf {name} is reached through {len(found)} different accumulate nodes from "
                f"roots {roots}; expected one shared by all its uses",
                program,
            )
