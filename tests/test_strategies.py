"""The strategies draw valid, domain-safe programs that cover the op set and the inputs the bug
classes need."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_conformance_suites import strategies as S
from conformance.backends.registry import load_backend
from conformance.judge.numerics import LinearBCE, evaluate_numpy
from conformance.spec.ops import ALL_OPS, OPS
from conformance.spec.program import Program

FAST = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
REFERENCE = load_backend("reference")


def _domain_safe(program: Program) -> None:
    env = evaluate_numpy(program)
    by_name = {s.name: s for s in program.steps}
    for name, value in env.items():
        if value.dtype != np.bool_:
            assert np.all(np.isfinite(value)) and np.max(np.abs(value), initial=0) <= S.VALUE_LIMIT
            assert value.size <= S.MAX_SIZE
        step = by_name.get(name)
        if step is None:
            continue
        operand = env[step.args[0]]
        row = OPS[step.op]
        for domain, arg in zip(row.domains, step.args, strict=False):
            assert domain.admits(env[arg]), f"{step.op} operand {arg} outside {domain}"
        if row.param_choices:
            allowed = [c for where, cs in row.param_choices if where.admits(operand) for c in cs]
            assert step.params[row.params[0]] in allowed
        if step.op == "bce_with_logits":
            target = env[step.args[1]]
            assert target.min(initial=0) >= 0 and target.max(initial=1) <= 1
            assert target.shape == operand.shape
            for extra in step.args[2:]:
                assert not next(i for i in program.inputs if i.name == extra).requires_grad


@FAST
@given(S.programs(dtypes=("float32", "float64")))
def test_programs_are_valid_domain_safe_and_round_trip(program: Program) -> None:
    _domain_safe(program)
    assert Program.from_json(program.to_json()) == program
    assert len(program.dtypes) == 1
    outputs = program.forward(REFERENCE)
    env = evaluate_numpy(program)
    assert any(env[o].dtype != np.bool_ for o in program.outputs), "no float output"
    for name, out in zip(program.outputs, outputs, strict=True):
        assert out.shape == env[name].shape


@FAST
@given(S.programs(ops={"add", "log", "div", "matmul"}, requires_grad=True, dtypes={"float32"}))
def test_programs_respect_ops_dtypes_and_flags(program: Program) -> None:
    assert program.ops <= {"add", "log", "div", "matmul"}
    assert program.dtypes == {"float32"}
    assert all(i.requires_grad for i in program.inputs)


@FAST
@given(S.programs(requires_grad=False))
def test_requires_grad_false_means_no_input_requires_grad(program: Program) -> None:
    assert not any(i.requires_grad for i in program.inputs)


def test_programs_cover_the_op_set_reuse_and_broadcasting() -> None:
    seen: Counter[str] = Counter()
    features: Counter[str] = Counter()

    @settings(FAST, max_examples=400)
    @given(S.programs(max_steps=6))
    def collect(program: Program) -> None:
        seen.update(s.op for s in program.steps)
        env = evaluate_numpy(program)
        for step in program.steps:
            if len(step.args) >= 2 and step.args[0] == step.args[1]:
                features["same value twice (x*x, a-a)"] += 1
            if OPS[step.op].broadcasts and env[step.args[0]].shape != env[step.args[1]].shape:
                features["broadcast"] += 1
            if step.op in ("sum", "mean") and step.params["dim"] is not None:
                features["reduce over dims"] += 1
            if step.op == "index" and len(set(step.params["indices"])) < len(
                step.params["indices"]
            ):
                features["repeated indices"] += 1
        uses = Counter(a for s in program.steps for a in s.args)
        if any(n > 1 for n in uses.values()):
            features["value used by several ops"] += 1
        if any(env[i.name].ndim == 0 for i in program.inputs):
            features["0-d input"] += 1

    collect()
    assert set(seen) == set(ALL_OPS), f"never drawn: {sorted(set(ALL_OPS) - set(seen))}"
    for feature in (
        "same value twice (x*x, a-a)",
        "broadcast",
        "reduce over dims",
        "repeated indices",
        "value used by several ops",
        "0-d input",
    ):
        assert features[feature] > 0, f"never drawn: {feature}"


def test_for_backend_restricts_to_declared_ops() -> None:
    class Narrow:
        name = "narrow"
        capabilities = type(REFERENCE.capabilities)(
            ops=frozenset({"add", "mul"}), dtypes=frozenset({"float32"})
        )

    @FAST
    @given(S.for_backend(Narrow(), dtypes=("float32", "float64")))
    def check(program: Program) -> None:
        assert program.ops <= {"add", "mul"} and program.dtypes <= {"float32"}

    check()


def _logits_seen(case: LinearBCE) -> set[float]:
    return {float(z) for z in case.logits().ravel()}


def test_linear_bce_cases_cover_the_bug_inputs() -> None:
    seen: Counter[str] = Counter()

    @settings(FAST, max_examples=300)
    @given(S.linear_bce_cases(dtypes=("float32", "float64")))
    def collect(case: LinearBCE) -> None:
        program = case.program()
        (loss,) = program.forward(REFERENCE)
        assert loss.shape == (case.y.shape if case.reduction == "none" else ())
        logits = _logits_seen(case)
        z_shape = case.logits().shape
        n_in = case.x.shape[-1]
        n_out = z_shape[-1]
        seen["non-square"] += n_in != n_out
        seen["batch > 1"] += case.x.ndim == 2 and case.x.shape[0] > 1
        seen["unbatched"] += case.x.ndim == 1
        seen["logit exactly 0"] += 0.0 in logits
        seen["|z| = 100"] += bool({100.0, -100.0} & logits)
        seen["|z| = 1e4"] += bool({1e4, -1e4} & logits)
        seen["soft targets"] += bool(np.any((case.y > 0) & (case.y < 1)))
        seen["hard targets"] += bool(np.all((case.y == 0) | (case.y == 1)))
        seen["weight"] += case.weight is not None
        seen["pos_weight"] += case.pos_weight is not None
        seen[f"reduction {case.reduction}"] += 1
        seen[f"form {case.form}"] += 1
        seen[case.y.dtype.name] += 1

    collect()
    wanted = [
        "non-square",
        "batch > 1",
        "unbatched",
        "logit exactly 0",
        "|z| = 100",
        "|z| = 1e4",
        "soft targets",
        "hard targets",
        "weight",
        "pos_weight",
        "reduction mean",
        "reduction sum",
        "reduction none",
        "form matmul",
        "form linear",
        "float32",
        "float64",
    ]
    missing = [w for w in wanted if not seen[w]]
    assert not missing, f"never drawn: {missing}"


@FAST
@given(S.linear_bce_cases(extremes=True))
def test_extreme_cases_have_exact_extreme_logits(case: LinearBCE) -> None:
    assert _logits_seen(case) & {0.0, 100.0, -100.0, 1e4, -1e4}


@FAST
@given(st.data())
def test_broadcast_partners_broadcast(data: Any) -> None:
    shape = data.draw(S.shapes())
    partner = data.draw(S.broadcast_partner_shapes(shape))
    np.broadcast_shapes(shape, partner)


@FAST
@given(S.values((5,), avoid_zero=0.25))
def test_values_avoid_zero(array: np.ndarray) -> None:
    assert np.all(np.abs(array) >= 0.25)
