"""The requirement catalogue: each requirement is one entry, and everything else is derived.

An entry holds the ID, a title, the normative sentence (MUST / MUST NOT), the SPEC.md section it
belongs to (its area, which also fixes its level), the capabilities an engine needs for it to
apply, the tolerance-table keys its checks compare with, and the PyTorch behaviour it encodes.
SPEC.md (`python -m conformance.spec`), the suite test's marker and docstring
(`suites.requirement.requirement`) and the report's titles are generated from it; adding a
requirement is an entry here plus its test function in suites/.

Order here is the order of SPEC.md within each area. Sources cite PyTorch 2.13 behaviour as
observed and the PyTorch documentation page it follows from.
"""

from __future__ import annotations

from dataclasses import dataclass

TAPE = "tape semantics"
FUNCTIONAL = "functional gradients"
PARITY = "device parity"
"""Requirements judged against a counterpart backend (`--parity-with`), e.g. CUDA against CPU;
they appear in a report only when the run names a counterpart."""
LEVELS = (TAPE, FUNCTIONAL, PARITY)


@dataclass(frozen=True)
class Area:
    """A section of SPEC.md: requirements about one part of autograd, all of one level."""

    title: str
    level: str


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    statement: str
    """One normative sentence (MUST / MUST NOT); the test's docstring is this sentence."""
    area: Area
    capabilities: tuple[str, ...]
    """Capabilities (see conformance.protocol.Capabilities.has) the engine needs for it to apply."""
    tolerances: tuple[str, ...]
    """Keys of conformance.spec.tolerances.CHECKS its comparisons use; () where the check is
    exact or semantic (flags, raised errors, identity, finiteness)."""
    source: str
    """The PyTorch behaviour or documentation it encodes."""

    @property
    def level(self) -> str:
        return self.area.level


LEAVES = Area("Leaves and roots", TAPE)
GRAPH = Area("The backward graph", TAPE)
REQUIRES_GRAD = Area("requires_grad toggling and propagation", TAPE)
ACCUMULATION = Area("Gradient accumulation", TAPE)
LAYOUT = Area("Gradient layout", TAPE)
RANDOM_PROGRAMS = Area("Random programs", FUNCTIONAL)
LINEAR_BCE = Area("Linear + BCE-with-logits", FUNCTIONAL)
TWO_DEVICES = Area("Two devices, one program", PARITY)

_TAPE = ("tape",)
_BCE_OPS = ("op:matmul", "op:add", "op:bce_with_logits")

_FIRST: tuple[Requirement, ...] = (
    Requirement(
        "LEAF-001",
        "User-created tensors are leaves",
        statement="A tensor created by the user MUST be a leaf with no grad_fn and with "
        "requires_grad exactly as requested, whether that is True or False.",
        area=LEAVES,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: torch.ones(3) and torch.ones(3, requires_grad=True) are "
        "leaves with grad_fn None; docs: torch.Tensor.is_leaf.",
    ),
    Requirement(
        "LEAF-002",
        "An op result is a non-leaf exactly when it requires grad",
        statement="With grad mode on, the result of an op MUST be a non-leaf that requires grad "
        "when the op is differentiable and at least one of its inputs requires grad, and "
        "otherwise a leaf that does not require grad.",
        area=LEAVES,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: a*2 and a+a with no input requiring grad are leaves with "
        "requires_grad False, b*2 is a non-leaf (MulBackward0), x > 0 does not require grad; "
        "docs: torch.Tensor.is_leaf, Autograd mechanics.",
    ),
    Requirement(
        "ROOT-001",
        "Roots have a grad_fn exactly when they require grad",
        statement="Every output of a computation MUST have a grad_fn exactly when it requires "
        "grad.",
        area=LEAVES,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: loss.grad_fn is BinaryCrossEntropyWithLogitsBackward0 "
        "while the loss requires grad, None otherwise; docs: torch.Tensor.grad_fn.",
    ),
    Requirement(
        "LEAF-003",
        "detach() returns a leaf",
        statement="detach() MUST return a leaf with the same values that does not require grad "
        "and has no grad_fn, and MUST leave the detached tensor's own flags unchanged.",
        area=LEAVES,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: b.detach() and (b*2).detach() are leaves with "
        "requires_grad False and grad_fn None; docs: torch.Tensor.detach.",
    ),
    Requirement(
        "NOGRAD-001",
        "Results computed under no-grad are leaves",
        statement="Every result of an op other than a view (reshape, expand, transpose) computed "
        "inside a no-grad block MUST be a leaf that does not require grad and has no grad_fn, "
        "even when its inputs require grad.",
        area=LEAVES,
        capabilities=(*_TAPE, "no_grad"),
        tolerances=(),
        source="PyTorch 2.13 observed: b*2 under no_grad() is a leaf, requires_grad False, "
        "grad_fn None; docs: torch.no_grad. Views are excluded: PyTorch 2.13 gives a view taken "
        "under no_grad its base's requires_grad (x.view(3), x.reshape(3, 1) of a leaf requiring "
        "grad: requires_grad True, is_leaf True, grad_fn None).",
    ),
    Requirement(
        "GRAPH-001",
        "The backward graph reaches exactly the leaves that require grad",
        statement="Walking the backward graph from a root's grad_fn MUST reach an accumulate node "
        "for exactly the leaves that require grad and on which the root depends through "
        "differentiable ops, and never a leaf that does not require grad.",
        area=GRAPH,
        capabilities=(*_TAPE, "graph"),
        tolerances=(),
        source="PyTorch 2.13 observed: MmBackward0.next_functions = ((None, 0), (AccumulateGrad, "
        "0)) with None for x that does not require grad; docs: Autograd mechanics, "
        "torch.autograd.graph.Node.next_functions.",
    ),
    Requirement(
        "GRAPH-002",
        "One accumulate node per leaf, shared by all its uses",
        statement="All uses of a leaf that requires grad, across ops and across roots, MUST reach "
        "it through one and the same accumulate node.",
        area=GRAPH,
        capabilities=(*_TAPE, "graph"),
        tolerances=(),
        source="PyTorch 2.13 observed: the AccumulateGrad node is cached per leaf, (W*1) reuses "
        "the same node object, acc.variable is W; docs: Autograd mechanics.",
    ),
    Requirement(
        "RG-001",
        "requires_grad_ switches a leaf on and off",
        statement="requires_grad_(True) and requires_grad_(False) on a floating-point leaf MUST "
        "switch its requires_grad on and off, keeping it a leaf with no grad_fn.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "requires_grad_toggle"),
        tolerances=(),
        source="PyTorch 2.13 observed: a.requires_grad_() returns self; requires_grad_(False) "
        "works on leaves; docs: torch.Tensor.requires_grad_.",
    ),
    Requirement(
        "RG-002",
        "requires_grad_(False) on a non-leaf raises",
        statement="requires_grad_(False) on a non-leaf that requires grad MUST raise.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "requires_grad_toggle"),
        tolerances=(),
        source="PyTorch 2.13 observed: (x*2).requires_grad_(False) raises RuntimeError: you can "
        "only change requires_grad flags of leaf variables.",
    ),
    Requirement(
        "RG-003",
        "Integer and bool tensors cannot be created requiring grad",
        statement="Creating an integer or bool tensor with requires_grad=True MUST raise.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "integer_tensors"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.tensor([1, 2], requires_grad=True) raises "
        "RuntimeError: Only Tensors of floating point and complex dtype can require gradients.",
    ),
    Requirement(
        "RG-004",
        "Integer and bool tensors refuse requires_grad_(True)",
        statement="requires_grad_(True) on an integer or bool tensor MUST raise and leave it not "
        "requiring grad.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "integer_tensors", "requires_grad_toggle"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.ones(3, dtype=torch.long).requires_grad_() (also "
        "bool) raises RuntimeError: only Tensors of floating point dtype can require gradients.",
    ),
    Requirement(
        "RG-005",
        "requires_grad propagates under nested grad-mode blocks",
        statement="Inside any nesting of no-grad and enable-grad blocks, the result of an op "
        "other than a view (reshape, expand, transpose) MUST require grad exactly when the "
        "innermost block enables grad (or none is open), the op is differentiable, and some input "
        "requires grad.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "no_grad", "enable_grad"),
        tolerances=(),
        source="PyTorch 2.13 observed: the output requires grad iff any differentiable input does "
        "and grad mode is on; enable_grad nested inside no_grad gives True; docs: "
        "torch.enable_grad, torch.no_grad. Views are excluded as in NOGRAD-001.",
    ),
    Requirement(
        "RG-006",
        "Grad mode is restored when a block is left by an exception",
        statement="When a no-grad or enable-grad block is left by an exception, the grad mode "
        "that was in force outside it MUST be restored.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "no_grad", "enable_grad"),
        tolerances=(),
        source="docs: torch.no_grad and torch.enable_grad are context managers that restore the "
        "previous grad mode on exit (torch.autograd.grad_mode, __exit__ runs on exceptions).",
    ),
    Requirement(
        "RG-007",
        "A leaf switched off after use receives no gradient",
        statement="After requires_grad_(False) on a leaf already used in a graph, a later "
        "backward through that graph MUST leave the leaf's .grad as it was while the other leaves "
        "receive theirs.",
        area=REQUIRES_GRAD,
        capabilities=(*_TAPE, "requires_grad_toggle"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: out=(w*w).sum(); w.requires_grad_(False); out.backward() "
        "raises nothing and w.grad stays None (AccumulateGrad returns early, "
        "accumulate_grad.cpp).",
    ),
    Requirement(
        "ACC-001",
        "k backward calls give exactly k times the gradient",
        statement="k backward calls (k = 2, 3) through a graph kept with retain_graph=True MUST "
        "leave exactly k times the single-call gradient in the .grad of every leaf that requires "
        "grad.",
        area=ACCUMULATION,
        capabilities=(*_TAPE, "retain_graph"),
        tolerances=("accumulate",),
        source="PyTorch 2.13 observed: after a second backward with retain_graph=True, "
        "torch.equal(b.grad, 2*first) is True; docs: torch.Tensor.backward (gradients accumulate "
        "in leaves).",
    ),
    Requirement(
        "RETAIN-001",
        "Backward through freed saved values raises",
        statement="A second backward through a graph whose saved values a first backward without "
        "retain_graph freed MUST raise, and MUST leave every .grad as the first backward left it.",
        area=ACCUMULATION,
        capabilities=(*_TAPE, "retain_graph"),
        tolerances=("accumulate",),
        source="PyTorch 2.13 observed: RuntimeError: Trying to backward through the graph a "
        "second time ...; .grad is unchanged by the failed call; docs: torch.Tensor.backward "
        "retain_graph.",
    ),
    Requirement(
        "ACC-002",
        "Repeated use sums over every path once",
        statement="A tensor used several times MUST receive the sum of the gradients of all its "
        "uses, each path counted once: x*x gives 2x, x+x gives 2, a-a gives 0, b=a+a then b+b "
        "gives 4, x*x+x gives 2x+1, each times the seed.",
        area=ACCUMULATION,
        capabilities=_TAPE,
        tolerances=("accumulate", "closed_form"),
        source="PyTorch 2.13 observed: y=x*x+x gives 2x+1 in one backward; a=2x; a*a+a at x=3 "
        "gives 26; docs: Autograd mechanics (gradients of all uses are summed).",
    ),
    Requirement(
        "ACC-003",
        "Gradients of different losses add",
        statement="Backward calls from two different roots over shared leaves MUST add their "
        "gradients in each leaf's .grad.",
        area=ACCUMULATION,
        capabilities=_TAPE,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: (3w).sum().backward(); (w**2).sum().backward() gives 3+2w.",
    ),
    Requirement(
        "ACC-004",
        "Setting .grad to None restarts accumulation",
        statement="After a leaf's .grad is set to None, the next backward MUST leave exactly the "
        "single-call gradient in it.",
        area=ACCUMULATION,
        capabilities=_TAPE,
        tolerances=("accumulate",),
        source="PyTorch 2.13 observed: with .grad = None the next backward creates a new tensor; "
        "docs: torch.optim.Optimizer.zero_grad(set_to_none=True).",
    ),
    Requirement(
        "ACC-005",
        "Zeroing .grad in place restarts accumulation",
        statement="After a leaf's .grad.zero_(), the next backward MUST leave exactly the "
        "single-call gradient in it.",
        area=ACCUMULATION,
        capabilities=_TAPE,
        tolerances=("accumulate",),
        source="PyTorch 2.13 observed: after grad.zero_() the next backward accumulates into the "
        "same, zeroed tensor; docs: torch.optim.Optimizer.zero_grad(set_to_none=False).",
    ),
    Requirement(
        "ACC-006",
        "A non-leaf's .grad stays None unless retained",
        statement="After backward, the .grad of every non-leaf on which retain_grad() was not "
        "called MUST be None.",
        area=ACCUMULATION,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: z.grad is None (with a UserWarning) for a non-leaf; docs: "
        "torch.Tensor.grad, torch.Tensor.retain_grad.",
    ),
    Requirement(
        "RETAIN-002",
        "retain_grad() fills a non-leaf's .grad",
        statement="After retain_grad() on a non-leaf, backward MUST fill its .grad with the "
        "gradient of the root with respect to it.",
        area=ACCUMULATION,
        capabilities=(*_TAPE, "retain_grad"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: after z.retain_grad(), z.grad equals dL/dz; docs: "
        "torch.Tensor.retain_grad.",
    ),
    Requirement(
        "VJP-001",
        "The functional VJP leaves .grad alone",
        statement="grad_of (torch.autograd.grad) MUST return the gradients backward would "
        "accumulate and leave the .grad of every leaf unchanged.",
        area=ACCUMULATION,
        capabilities=(*_TAPE, "grad_of"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: torch.autograd.grad returns the gradients and leaves .grad "
        "None/unchanged; docs: torch.autograd.grad.",
    ),
    Requirement(
        "DTYPE-001",
        ".grad has the leaf's dtype",
        statement="After backward, a leaf's .grad MUST have the leaf's dtype.",
        area=LAYOUT,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: .grad dtype always equals the leaf dtype (f16, bf16, f64); "
        "docs: torch.Tensor.grad (gradient layout contract).",
    ),
    Requirement(
        "SHAPE-001",
        ".grad has the leaf's shape",
        statement="After backward, a leaf's .grad MUST have exactly the leaf's shape, including "
        "leaves that were broadcast against larger operands.",
        area=LAYOUT,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: broadcasting is summed back, (4,3)*(3,) gives a (3,) grad "
        "[4,4,4]; docs: Broadcasting semantics (backward).",
    ),
    Requirement(
        "TAPE-001",
        "backward() leaves the reference gradients in .grad",
        statement="backward() from a root with a seed gradient MUST leave in the .grad of each "
        "leaf that requires grad the reference engine's gradient (None where the root does not "
        "depend on it), and None in each leaf that does not require grad.",
        area=LAYOUT,
        capabilities=_TAPE,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: leaves that do not require grad keep .grad None without "
        "warning; docs: torch.Tensor.backward.",
    ),
    Requirement(
        "VJP-002",
        "The functional VJP has each input's shape and dtype",
        statement="grad_of (torch.autograd.grad) MUST return for each input the root reaches a "
        "gradient with exactly that input's shape and dtype, including inputs that were "
        "broadcast against larger operands.",
        area=LAYOUT,
        capabilities=(*_TAPE, "grad_of"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.autograd.grad([x*2 + b], [x, b]) with float32 x of "
        "shape (4, 3) and b of shape (3,) returns float32 gradients of shapes (4, 3) and (3,); "
        "with a float64 d, (x*d).sum() gives x a float32 and d a float64 gradient (the engine "
        "sums each gradient to its input's shape and casts it to the input's dtype); docs: "
        "torch.autograd.grad.",
    ),
    Requirement(
        "FWD-001",
        "Forward values match the reference engine",
        statement="The outputs of random programs over the op set MUST equal the reference "
        "engine's within the dtype's reference tolerance.",
        area=RANDOM_PROGRAMS,
        capabilities=(),
        tolerances=("reference",),
        source="The op set's meaning is PyTorch 2.13's (torch.add ... "
        "torch.nn.functional.binary_cross_entropy_with_logits); the reference engine encodes it.",
    ),
    Requirement(
        "RAND-001",
        "Random-graph gradients match the reference engine",
        statement="The vector-Jacobian product of random programs over the op set, with "
        "broadcasting and one value reused by several ops, MUST equal the reference engine's "
        "within the dtype's reference tolerance.",
        area=RANDOM_PROGRAMS,
        capabilities=(),
        tolerances=("reference",),
        source="PyTorch 2.13 derivative formulas (PyTorch's tools/autograd/derivatives.yaml) as "
        "encoded by the reference engine; docs: torch.autograd.grad.",
    ),
    Requirement(
        "RAND-002",
        "Random-graph gradients match finite differences",
        statement="The vector-Jacobian product of random float64 programs MUST match central "
        "finite differences of the backend's own forward pass, away from kinks.",
        area=RANDOM_PROGRAMS,
        capabilities=("dtype:float64",),
        tolerances=("finite_difference", "directional"),
        source="docs: torch.autograd.gradcheck (central differences, float64, |a-n| <= atol + "
        "rtol|n|).",
    ),
    Requirement(
        "BCE-001",
        "Linear + BCE-with-logits matches the closed form",
        statement="For z = x @ W + b and loss = BCEWithLogits(z, y, weight, pos_weight, "
        "reduction), the loss and the gradients for x, W, b and y MUST equal the float64 closed "
        "form within the dtype's tolerance.",
        area=LINEAR_BCE,
        capabilities=_BCE_OPS,
        tolerances=("closed_form",),
        source="PyTorch 2.13 observed: matches NumPy float64 (1-y)z - lw*logsigmoid(z), "
        "lw=(pw-1)y+1, grad (pw*y+1-y)*sigmoid(z) - pw*y, times weight, /numel for mean, gradient "
        "diff 0.0; docs: torch.nn.BCEWithLogitsLoss.",
    ),
    Requirement(
        "BCE-002",
        "Linear + BCE-with-logits matches finite differences",
        statement="The gradients of the linear + BCE example in float64 MUST match central finite "
        "differences of the backend's own forward (directional differences for large layers).",
        area=LINEAR_BCE,
        capabilities=(*_BCE_OPS, "dtype:float64"),
        tolerances=("finite_difference", "directional"),
        source="docs: torch.autograd.gradcheck, slow and fast_mode; PyTorch 2.13 observed: "
        "gradcheck passes for all 12 weight/pos_weight/reduction combinations.",
    ),
    Requirement(
        "BCE-003",
        "Linear + BCE-with-logits matches the reference engine",
        statement="The loss and gradients of the linear + BCE example MUST equal the reference "
        "engine's within the dtype's reference tolerance.",
        area=LINEAR_BCE,
        capabilities=_BCE_OPS,
        tolerances=("reference",),
        source="PyTorch 2.13 behaviour as encoded by the reference engine; docs: "
        "torch.nn.functional.binary_cross_entropy_with_logits.",
    ),
    Requirement(
        "BCE-004",
        "BCE-with-logits is finite at extreme logits",
        statement="At logits of +-100 and +-1e4 the BCE-with-logits loss and its gradients MUST "
        "be finite in every dtype.",
        area=LINEAR_BCE,
        capabilities=("op:bce_with_logits",),
        tolerances=(),
        source="PyTorch 2.13 observed: z=+-1e4 gives loss 10000.0/0.0 and dL/dz +-1.0/0.0, finite "
        "in float32 and float64 (log-sum-exp form).",
    ),
    Requirement(
        "BCE-005",
        "BCE-with-logits gradient at a logit of exactly 0",
        statement="At a logit of exactly 0 the gradient of BCE-with-logits MUST be weight * "
        "((pos_weight*y + 1 - y) / 2 - pos_weight*y), that is 0.5 - y without weights, divided by "
        "numel for 'mean'.",
        area=LINEAR_BCE,
        capabilities=("op:bce_with_logits",),
        tolerances=("closed_form",),
        source="sigmoid(0) = 0.5, so dL/dz = 0.5 - y (pytorch#2298, jax#2107); PyTorch 2.13 "
        "formula (pw*y+1-y)*sigmoid(z) - pw*y.",
    ),
    Requirement(
        "PARITY-001",
        "Values and gradients agree with the counterpart device",
        statement="The same program MUST give the same outputs and vector-Jacobian products on "
        "the backend under test as on its counterpart (a CUDA device against the CPU, say), "
        "within the parity tolerance of the program's dtype.",
        area=TWO_DEVICES,
        capabilities=(),
        tolerances=("parity",),
        source="PyTorch docs, Reproducibility and CUDA semantics: results are not bitwise equal "
        "across devices, but agree to rounding (torch.testing.assert_close defaults per dtype); "
        "TF32 off by default for matmul in 2.13.",
    ),
    Requirement(
        "PARITY-002",
        ".grad lives with its leaf",
        statement="After backward, a leaf's .grad MUST be on the leaf's device, with the leaf's "
        "dtype and shape.",
        area=TWO_DEVICES,
        capabilities=(*_TAPE, "device_placement"),
        tolerances=(),
        source="PyTorch 2.13 observed (gradient layout contract): .grad dtype always equals the "
        "leaf dtype and its device is the leaf's; docs: torch.Tensor.grad.",
    ),
    Requirement(
        "PARITY-003",
        "Repeated backward passes agree on the device",
        statement="Two identical vector-Jacobian products of the same program on the same device "
        "MUST agree within the device's nondeterminism tolerance (exactly, on a CPU).",
        area=TWO_DEVICES,
        capabilities=(),
        tolerances=("nondeterminism",),
        source="docs: torch.use_deterministic_algorithms lists the CUDA backward kernels that use "
        "atomics (index_add, index_put with accumulate, ...) and may differ run to run at ulp "
        "level; CPU kernels are deterministic.",
    ),
)

# -- errors, hooks, grad modes, aliasing -------------------------------------------------------
ERRORS = Area("Errors that must be raised", TAPE)
HOOKS = Area("Gradient hooks", TAPE)
GRAD_MODES = Area("Grad modes", TAPE)
ALIASING = Area("Aliasing, and the tape rules op by op", TAPE)
HIGHER_ORDER = Area("Higher-order gradients", TAPE)
FORWARD_MODE = Area("Forward mode", FUNCTIONAL)
VIEWS = Area("Views and in-place ops", TAPE)
DTYPES = Area("Floating-point dtypes", FUNCTIONAL)
HIGHER_ORDER_FUNCTIONAL = Area("Higher-order gradients of functions", FUNCTIONAL)
DTYPES_TAPE = Area("Floating-point dtypes of .grad", TAPE)

_ERRORS: tuple[Requirement, ...] = (
    Requirement(
        "ERR-001",
        "backward() needs a gradient unless the output has one element",
        statement="backward() without a gradient on an output that does not have exactly one "
        "element MUST raise the engine's declared implicit-gradient refusal at that call and "
        "leave every .grad as it was.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: (x*2).backward() on shape (3,) (also (0,)) raises "
        "RuntimeError: grad can be implicitly created only for scalar outputs, and x.grad stays "
        "None; docs: torch.Tensor.backward (gradient must be given for non-scalar tensors).",
    ),
    Requirement(
        "ERR-002",
        "A one-element output of any shape is seeded with one",
        statement="backward() without a gradient on an output with exactly one element, whatever "
        "its shape ((), (1,), (1, 1), ...), MUST fill every .grad as backward with a gradient of "
        "ones does.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=("nondeterminism",),
        source="PyTorch 2.13 observed: (x[:1]*2).backward() and a (1, 1) output backpropagate "
        "implicitly; torch.autograd._make_grads checks numel() == 1, not the dimension count.",
    ),
    Requirement(
        "ERR-003",
        "backward() from a tensor that does not require grad raises",
        statement="backward() on a tensor that does not require grad, an op result computed from "
        "such tensors or a leaf, MUST raise the engine's declared refusal at that call.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: torch.ones(3).sum().backward() and "
        "torch.ones(()).backward() raise RuntimeError: element 0 of tensors does not require "
        "grad and does not have a grad_fn.",
    ),
    Requirement(
        "ERR-004",
        "A gradient of another shape is refused",
        statement="backward() with a gradient whose shape differs from the output's, even one "
        "that broadcasts to it or has the same number of elements, MUST raise the engine's "
        "declared refusal at that call and leave every .grad as it was.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: a (3,) output with a gradient of shape (4,), (1,), (1, 3) "
        "or (); a () output with (1,); (2, 3) with (6,) or (3, 2): RuntimeError: Mismatch in "
        "shape: grad_output[0] has a shape of torch.Size([1]) and output[0] has a shape of "
        "torch.Size([3]).",
    ),
    Requirement(
        "ERR-005",
        "A gradient of another float dtype is cast, not refused",
        statement="backward() with a gradient of another floating dtype than the output's MUST "
        "NOT raise, and MUST fill .grad in each leaf's own dtype with the gradients a gradient "
        "of the output's dtype gives.",
        area=ERRORS,
        capabilities=(*_TAPE, "dtype:float32", "dtype:float64"),
        tolerances=("nondeterminism",),
        source="PyTorch 2.13 observed: (x*2).backward(torch.ones(3, dtype=torch.float64)) on a "
        "float32 x gives x.grad float32 [2., 2., 2.] (autograd casts the gradient to the "
        "output's dtype in validate_outputs); integer and bool gradients are cast too.",
    ),
    Requirement(
        "ERR-006",
        "autograd.grad refuses an input the outputs do not reach",
        statement="autograd.grad for an input that requires grad but that no output depends on "
        "MUST raise the engine's declared refusal at that call unless allow_unused is given.",
        area=ERRORS,
        capabilities=(*_TAPE, "grad_of"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.autograd.grad((a*2).sum(), [a, b]) raises "
        "RuntimeError: The differentiated Tensor at index 1 appears to not have been used in the "
        "graph. Set allow_unused=True if this is the desired behavior.",
    ),
    Requirement(
        "ERR-007",
        "With allow_unused an unreached input's gradient is None",
        statement="autograd.grad with allow_unused=True MUST return None for each input no "
        "output depends on, and for every other input the gradient it returns without the "
        "unreached ones.",
        area=ERRORS,
        capabilities=(*_TAPE, "grad_of"),
        tolerances=("nondeterminism",),
        source="PyTorch 2.13 observed: torch.autograd.grad((a*2).sum(), [a, b], "
        "allow_unused=True) returns (tensor([2., 2., 2.]), None); docs: torch.autograd.grad "
        "allow_unused.",
    ),
    Requirement(
        "ERR-008",
        "materialize_grads gives zeros for an unreached input",
        statement="autograd.grad with materialize_grads=True MUST return, for each input no "
        "output depends on, zeros of that input's shape and dtype.",
        area=ERRORS,
        capabilities=(*_TAPE, "grad_of", "materialize_grads"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.autograd.grad((a*2).sum(), [a, b], "
        "materialize_grads=True) with b float64 of shape (2, 3) gives float64 zeros of shape "
        "(2, 3); docs: torch.autograd.grad materialize_grads (implies allow_unused).",
    ),
    Requirement(
        "ERR-009",
        "autograd.grad refuses an input that does not require grad",
        statement="autograd.grad for an input that does not require grad MUST raise the engine's "
        "declared refusal at that call, whether or not allow_unused is given.",
        area=ERRORS,
        capabilities=(*_TAPE, "grad_of"),
        tolerances=(),
        source="PyTorch 2.13 observed: torch.autograd.grad((a*2).sum(), [a, torch.ones(3)]), "
        "with or without allow_unused=True, raises RuntimeError: One of the differentiated "
        "Tensors does not require grad.",
    ),
    Requirement(
        "ERR-010",
        "An in-place op on a leaf that requires grad is refused in grad mode",
        statement="An in-place op on a leaf that requires grad MUST raise the engine's declared "
        "refusal at that call when grad mode is on, leaving the leaf's value unchanged, and MUST "
        "be carried out under no-grad, the tensor staying a leaf that requires grad.",
        area=ERRORS,
        capabilities=(*_TAPE, "no_grad"),
        tolerances=(),
        source="PyTorch 2.13 observed: b.add_(1) and b.mul_(2) raise RuntimeError: a leaf "
        "Variable that requires grad is being used in an in-place operation, b unchanged; under "
        "torch.no_grad() b.add_(1) works and b stays a leaf with requires_grad True (an "
        "optimizer step).",
    ),
    Requirement(
        "ERR-011",
        "Backward refuses a saved tensor modified in place",
        statement="When a tensor an op saved for backward (the result of exp, sigmoid or tanh; "
        "the operand of sin, abs, pow or x*x) is modified in place after the op, the in-place op "
        "MUST succeed and a later backward through the op MUST raise the engine's declared "
        "refusal at that call.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: y = x.sigmoid(); y.mul_(2); y.sum().backward() raises "
        "RuntimeError: one of the variables needed for gradient computation has been modified "
        "by an inplace operation: [torch.FloatTensor [3]], which is output 0 of Sigmoid, is at "
        "version 1; expected version 0 instead (the version counter; derivatives.yaml names what "
        "each op saves).",
    ),
    Requirement(
        "ERR-012",
        "An in-place op on a result nothing saved is fine",
        statement="An in-place add on the result of an add, which saves nothing for backward, "
        "MUST NOT make a later backward raise, and the gradients MUST be those of the program "
        "written out of place.",
        area=ERRORS,
        capabilities=_TAPE,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = a + b; y.add_(c); (y*k).sum().backward() gives "
        "a.grad = k, as y.mul_(2) after a + b gives 2 (AddBackward0 saves no tensor, so no "
        "version is checked).",
    ),
)

_HOOK = (*_TAPE, "hooks")
_HOOKS: tuple[Requirement, ...] = (
    Requirement(
        "HOOK-001",
        "A hook sees its tensor's gradient, once per backward",
        statement="A hook registered with register_hook on a leaf or non-leaf that requires grad "
        "MUST be called exactly once by a backward that reaches the tensor, with the gradient of "
        "the root with respect to that tensor summed over every use of it, and MUST NOT be "
        "called by a backward that does not reach it.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = x*2 used as y*3 + y.exp() calls y's hook once with "
        "3 + exp(y); a leaf used twice likewise; docs: torch.Tensor.register_hook.",
    ),
    Requirement(
        "HOOK-002",
        "A leaf hook's result is what .grad accumulates",
        statement="The tensor a hook on a leaf returns MUST be what backward accumulates into "
        "the leaf's .grad in place of the gradient, and a hook returning None MUST leave the "
        "gradient unchanged.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: x.register_hook(lambda g: g * 10) then (x*x).sum()."
        "backward() gives x.grad = 20x; a hook returning None leaves x.grad = 3 for (x*3).sum(); "
        "docs: torch.Tensor.register_hook.",
    ),
    Requirement(
        "HOOK-003",
        "A non-leaf hook's result flows on to its inputs",
        statement="The tensor a hook on a non-leaf returns MUST replace that tensor's gradient "
        "for the rest of the backward pass, so that every leaf's .grad is computed from the "
        "replacement, and a hook returning None MUST leave it unchanged.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = x*3 with y.register_hook(lambda g: g * 2), "
        "(y*y).sum().backward() gives x.grad = 2 * 2y * 3 = [36, 72] at x = [1, 2]; docs: "
        "torch.Tensor.register_hook.",
    ),
    Requirement(
        "HOOK-004",
        "Hooks on one tensor run in registration order, chained",
        statement="Several hooks on one tensor MUST run in the order they were registered, each "
        "receiving the previous hook's result (the gradient it received, after a hook returning "
        "None), and the last result MUST be the gradient used.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference", "accumulate"),
        source="PyTorch 2.13 observed: hooks g+1 then g*10 on y = x*1 see [1, 1] then [2, 2] and "
        "x.grad is [20, 20]; the hooks are the node's tensor pre-hooks, called in order "
        "(torch/csrc/autograd/engine.cpp, call_tensor_pre_hooks).",
    ),
    Requirement(
        "HOOK-005",
        "A removed hook no longer runs",
        statement="After remove() on its handle, a hook MUST NOT run in any later backward, while "
        "the tensor's other hooks keep running.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: h = x.register_hook(lambda g: g * 100); h.remove(); "
        "x.sum().backward() gives x.grad = [1, 1]; a second remove() is harmless; docs: "
        "torch.utils.hooks.RemovableHandle.",
    ),
    Requirement(
        "HOOK-006",
        "retain_grad sees the gradient after every hook",
        statement="The .grad of a non-leaf that called retain_grad() MUST hold its gradient as "
        "left by all of its hooks, whether they were registered before or after retain_grad().",
        area=HOOKS,
        capabilities=(*_HOOK, "retain_grad"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = x*1 with y.retain_grad() and a hook g*10 in either "
        "order gives y.grad = [10, 10] after y.sum().backward(): retain_grad's hook always runs "
        "after the tensor's other hooks (docs: Autograd mechanics, Backward Hooks execution).",
    ),
    Requirement(
        "HOOK-007",
        "register_hook on a tensor that does not require grad raises",
        statement="register_hook on a tensor that does not require grad MUST raise, at the call, "
        "an exception of a class the adapter declares for that refusal (hook_without_grad).",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=(),
        source="PyTorch 2.13 observed: torch.ones(2).register_hook(f) raises RuntimeError: "
        "cannot register a hook on a tensor that doesn't require gradient.",
    ),
    Requirement(
        "HOOK-008",
        "Post-accumulate-grad hooks run after .grad is written",
        statement="A post-accumulate-grad hook on a leaf MUST be called once by each backward "
        "that reaches the leaf, after .grad has been updated with the gradient its tensor hooks "
        "left, receiving the leaf itself, in registration order with the leaf's other such "
        "hooks, and MUST NOT be called after its handle is removed.",
        area=HOOKS,
        capabilities=(*_TAPE, "post_accumulate_grad_hooks"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: with a hook g*2 and (x*3).sum().backward(), the "
        "post-accumulate hook receives x itself (t is x) and sees x.grad = [6, 6], then [12, 12] "
        "after a second backward; docs: torch.Tensor.register_post_accumulate_grad_hook.",
    ),
    Requirement(
        "HOOK-009",
        "Post-accumulate-grad hooks are refused on non-leaves",
        statement="register_post_accumulate_grad_hook on a non-leaf, or on a tensor that does not "
        "require grad, MUST raise, at the call, an exception of a class the adapter declares for "
        "that refusal (post_hook_non_leaf, hook_without_grad).",
        area=HOOKS,
        capabilities=(*_TAPE, "post_accumulate_grad_hooks"),
        tolerances=(),
        source="PyTorch 2.13 observed: RuntimeError: post accumulate grad hooks cannot be "
        "registered on non-leaf tensors; on torch.ones(2): RuntimeError: cannot register a hook "
        "on a tensor that doesn't require gradient.",
    ),
    Requirement(
        "HOOK-010",
        "Hooks anywhere in a program give the reference gradients",
        statement="With hooks scaling the gradient by given factors on several leaves and "
        "intermediate values of a program, every leaf's .grad MUST equal the reference engine's "
        "under the same hooks within the dtype's reference tolerance.",
        area=HOOKS,
        capabilities=_HOOK,
        tolerances=("reference",),
        source="PyTorch 2.13 behaviour as encoded by the reference engine, whose hooks are "
        "checked against PyTorch (tests/reference_engine/test_refengine_hooks.py); docs: "
        "torch.Tensor.register_hook.",
    ),
)

_GRAD_MODE_BLOCKS = (*_TAPE, "no_grad", "enable_grad", "grad_modes")
_GRAD_MODES: tuple[Requirement, ...] = (
    Requirement(
        "MODE-001",
        "Grad mode follows the innermost block, however the blocks nest",
        statement="Inside any nesting of no_grad, enable_grad and set_grad_enabled(flag) blocks, "
        "each left normally or by an exception, is_grad_enabled() MUST report the mode of the "
        "innermost open block (True where none is open), and an op on an input that requires "
        "grad MUST record a grad_fn exactly when it reports True.",
        area=GRAD_MODES,
        capabilities=_GRAD_MODE_BLOCKS,
        tolerances=(),
        source="PyTorch 2.13 observed: torch.is_grad_enabled() and (x*x).grad_fn follow the "
        "innermost of no_grad / enable_grad / set_grad_enabled blocks nested in every order, "
        "and each block's __exit__ puts back the mode it found, also when the block raises; "
        "docs: torch.no_grad, torch.enable_grad, torch.set_grad_enabled, Locally disabling "
        "gradient computation.",
    ),
    Requirement(
        "MODE-002",
        "set_grad_enabled(flag) called as a function switches grad mode at once",
        statement="A plain call set_grad_enabled(flag), outside any block or inside one, MUST "
        "switch grad mode to flag at once and keep it until the next switch, and a block that "
        "was open around the call MUST still put back, when it ends, the mode it found on entry.",
        area=GRAD_MODES,
        capabilities=_GRAD_MODE_BLOCKS,
        tolerances=(),
        source="PyTorch 2.13 observed: torch.set_grad_enabled(False) as a statement turns grad "
        "mode off (torch.is_grad_enabled() False, x*x has no grad_fn) until "
        "torch.set_grad_enabled(True); with torch.no_grad(): torch.set_grad_enabled(True) gives "
        "True inside and, after the block, the mode from before it; docs: "
        'torch.set_grad_enabled ("It can be used as a context-manager or as a function").',
    ),
    Requirement(
        "MODE-003",
        "Grad-mode blocks work as function decorators",
        statement="A function decorated with no_grad(), enable_grad() or set_grad_enabled(flag) "
        "MUST run in that grad mode wherever it is called, the caller's grad mode MUST be back "
        "after it returns or raises, and decorating MUST NOT itself change the grad mode.",
        area=GRAD_MODES,
        capabilities=_GRAD_MODE_BLOCKS,
        tolerances=(),
        source="PyTorch 2.13 observed: @torch.no_grad(), @torch.enable_grad() and "
        "@torch.set_grad_enabled(False) run the body in that mode and restore the caller's, "
        "also when the body raises; torch.set_grad_enabled(False) switches the mode when "
        "constructed but its __call__ puts it back, so decorating leaves the mode as it was "
        "(torch.autograd.grad_mode.set_grad_enabled.__call__); docs: torch.no_grad, "
        'torch.enable_grad ("Also functions as a decorator").',
    ),
    Requirement(
        "MODE-004",
        "Grad mode belongs to a thread",
        statement="A grad mode switched in one thread MUST NOT change it in another, and a new "
        "thread MUST start with grad mode on whatever mode the thread that started it is in.",
        area=GRAD_MODES,
        capabilities=(*_TAPE, "no_grad"),
        tolerances=(),
        source="PyTorch 2.13 observed: inside torch.no_grad() (also set_grad_enabled(False), "
        "inference_mode()) a threading.Thread sees torch.is_grad_enabled() True and w*2 "
        "requires grad; while another thread holds a no_grad block the main thread still "
        'records; docs: torch.no_grad, torch.enable_grad, torch.set_grad_enabled ("This '
        'context manager is thread local; it will not affect computation in other threads").',
    ),
    Requirement(
        "MODE-005",
        "inference_mode nests with the grad-mode blocks",
        statement="Inside any nesting of no_grad, enable_grad, set_grad_enabled(flag) and "
        "inference_mode(flag) blocks, each left normally or by an exception, is_grad_enabled() "
        "MUST report the innermost block's grad mode (inference_mode(flag) sets it to not "
        "flag), and an op on an input that requires grad MUST record a grad_fn exactly when "
        "grad mode is on and the innermost open inference_mode block, if any, has flag False, "
        "its result being an inference tensor exactly when that block has flag True.",
        area=GRAD_MODES,
        capabilities=(*_GRAD_MODE_BLOCKS, "inference_mode"),
        tolerances=(),
        source="PyTorch 2.13 observed: inside inference_mode() is_grad_enabled() is False and "
        "w*2 is an inference tensor without grad_fn, also inside a nested enable_grad() or "
        "set_grad_enabled(True) (is_grad_enabled() True, still nothing recorded); "
        "inference_mode(False) turns grad mode on and inference mode off, even nested in "
        "no_grad() (the InferenceMode guard sets grad mode to the opposite of its flag); leaving "
        "an inference_mode block restores both modes; docs: torch.inference_mode, Inference "
        "Mode.",
    ),
    Requirement(
        "MODE-006",
        "inference_mode works as a function decorator",
        statement="A function decorated with inference_mode(flag) MUST run with inference mode "
        "set to flag and grad mode to not flag wherever it is called, the caller's modes MUST "
        "be back after it returns or raises, and decorating MUST NOT itself change them.",
        area=GRAD_MODES,
        capabilities=(*_GRAD_MODE_BLOCKS, "inference_mode"),
        tolerances=(),
        source="PyTorch 2.13 observed: @torch.inference_mode() and @torch.inference_mode(False) "
        "run the body with torch.is_inference_mode_enabled() True / False and "
        "torch.is_grad_enabled() False / True, restoring both after a return or a raise; docs: "
        'torch.inference_mode ("Also functions as a decorator").',
    ),
    Requirement(
        "MODE-007",
        "Results computed in inference mode are inference tensors",
        statement="Every result of an op other than a view (reshape, expand, transpose) computed "
        "inside inference_mode() MUST be an inference tensor that does not require grad and has "
        "no grad_fn, even when its inputs require grad, and the same op computed outside "
        "inference mode MUST NOT give an inference tensor.",
        area=GRAD_MODES,
        capabilities=(*_TAPE, "grad_modes", "inference_mode"),
        tolerances=(),
        source="PyTorch 2.13 observed: under inference_mode(), w*2 with w requiring grad has "
        "is_inference() True, requires_grad False, grad_fn None, while w itself and w*2 outside "
        "are not inference tensors; views are excluded (w.view(3) under inference_mode() is a "
        "normal tensor that requires grad); docs: torch.inference_mode, "
        "torch.Tensor.is_inference.",
    ),
    Requirement(
        "MODE-008",
        "An inference tensor cannot be saved for backward",
        statement="Outside inference mode, an op on an inference tensor and a tensor that "
        "requires grad MUST raise the engine's declared refusal at the call when its backward "
        "needs the inference tensor's values (mul, div, matmul), and MUST record a grad_fn "
        "without raising when it does not (add, sub).",
        area=GRAD_MODES,
        capabilities=(*_TAPE, "grad_modes", "inference_mode"),
        tolerances=(),
        source="PyTorch 2.13 observed: with x made under inference_mode() and w requiring grad, "
        "w*x, x*w, w/x, x/w and w@x raise RuntimeError: Inference tensors cannot be saved for "
        "backward. Please do not use Tensors created in inference mode in computation tracked "
        "by autograd. ..., while w+x and w-x require grad and have a grad_fn; docs: "
        "torch.inference_mode.",
    ),
)

_ALIAS_SCOPE = (
    "Left out in PyTorch 2.13: views and sum, whose backward hands on a view of the incoming "
    "gradient that AccumulateGrad keeps without a copy when it has the leaf's layout "
    "(x.reshape(3).backward(g) leaves x.grad sharing g's memory, and a.reshape(3) + "
    "b.reshape(3) gives a and b one .grad buffer)."
)

_ALIASING: tuple[Requirement, ...] = (
    Requirement(
        "ALIAS-001",
        ".grad does not share memory with the seed gradient",
        statement="After backward(gradient=g) on the result of an op other than a view "
        "(reshape, expand, transpose) or sum, the leaves' .grad MUST NOT share memory with g: "
        "changing g in place leaves every .grad unchanged, and zeroing a .grad in place leaves "
        "g unchanged.",
        area=ALIASING,
        capabilities=(*_TAPE, "tensor_seed"),
        tolerances=(),
        source="PyTorch 2.13 observed: after (a + b).backward(g) or (a * b).backward(g), "
        "g.mul_(7) leaves a.grad and b.grad as they were and a.grad.zero_() leaves g; "
        "AccumulateGrad copies a gradient that is still referenced elsewhere (the caller holds "
        "g); docs: torch.Tensor.backward. " + _ALIAS_SCOPE,
    ),
    Requirement(
        "ALIAS-002",
        "A leaf's .grad does not share memory with the seed of its own backward",
        statement="After backward(gradient=g) called on a leaf itself, the leaf's .grad MUST NOT "
        "share memory with g: changing g in place leaves .grad unchanged, and zeroing .grad in "
        "place leaves g unchanged.",
        area=ALIASING,
        capabilities=(*_TAPE, "tensor_seed"),
        tolerances=(),
        source="PyTorch 2.13 observed: after x.backward(g) on a leaf x, g.mul_(5) leaves x.grad "
        "as it was and x.grad has its own storage (AccumulateGrad copies the seed the caller "
        "still holds); docs: torch.Tensor.backward.",
    ),
    Requirement(
        "ALIAS-003",
        "Leaves do not share a .grad buffer",
        statement="After backward through ops other than views (reshape, expand, transpose) and "
        "sum, zeroing one leaf's .grad in place MUST leave every other leaf's .grad unchanged.",
        area=ALIASING,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: after (a + b).backward(g), where AddBackward0 hands the "
        "same gradient tensor to a and b, a.grad and b.grad have distinct storage and "
        "a.grad.zero_() leaves b.grad as it was. " + _ALIAS_SCOPE,
    ),
    Requirement(
        "ALIAS-004",
        ".grad shares memory with neither the leaf nor a retained .grad",
        statement="After backward, changing a leaf's values in place under no-grad MUST leave "
        "its .grad unchanged, zeroing a retained non-leaf's .grad in place MUST leave every "
        "leaf's .grad unchanged, and zeroing a leaf's .grad in place MUST leave its values "
        "unchanged.",
        area=ALIASING,
        capabilities=(*_TAPE, "retain_grad", "no_grad"),
        tolerances=(),
        source="PyTorch 2.13 observed: with y = a + b (or a.reshape(3)) retained, after backward "
        "y.grad.zero_() leaves a.grad as it was (the retain_grad hook stores a clone), a.grad "
        "never shares a's storage, and a.add_(1) under no_grad() leaves a.grad; docs: "
        "torch.Tensor.retain_grad, torch.no_grad. Views are included: only leaf against leaf "
        "and leaf against seed can share memory in PyTorch.",
    ),
    Requirement(
        "ALIAS-005",
        "A backward pass leaves the .grad of leaves it does not reach alone",
        statement="A backward pass MUST NOT change the .grad of a leaf that its graph does not "
        "reach, whatever shape and dtype the gradients it computes have.",
        area=ALIASING,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: after (a * 2).sum().backward(), (b * 5).sum().backward() "
        "on a leaf b of a's shape leaves a.grad as it was; .grad is its own tensor (updated in "
        "place only by accumulation into that same leaf), never a buffer the engine reuses; "
        "docs: torch.Tensor.grad, Autograd mechanics.",
    ),
)

_CREATE_GRAPH = (*_TAPE, "grad_of", "create_graph")
_SECOND_ORDER = (
    "The second-order VJP of a program at x, for a seed u of its root and weights w on its "
    "inputs, is the gradient of <w, J(x)^T u>; it is checked, as torch.autograd.gradgradcheck "
    "does, against central differences of x -> <w, J(x)^T u> computed with the engine's own "
    "first-order gradients, along fixed random directions."
)
_HIGHER_ORDER: tuple[Requirement, ...] = (
    Requirement(
        "HIGHER-001",
        "create_graph=True gives gradients recorded in the graph",
        statement="autograd.grad with create_graph=True MUST return, for each input whose "
        "gradient changes with the inputs' values, a gradient that requires grad and has a "
        "grad_fn, and autograd.grad without create_graph MUST return gradients that neither "
        "require grad nor have a grad_fn.",
        area=HIGHER_ORDER,
        capabilities=_CREATE_GRAPH,
        tolerances=("directional",),
        source="PyTorch 2.13 observed: torch.autograd.grad((x*x).sum(), x, create_graph=True) "
        "gives a gradient with requires_grad True and grad_fn AddBackward0, the same call "
        "without create_graph one with requires_grad False and grad_fn None; where the gradient "
        "is constant ((x*2).sum()) it does not require grad, and for relu it does "
        "(ThresholdBackwardBackward0), so only the first case is required; docs: "
        "torch.autograd.grad create_graph. A gradient changes with the inputs where central "
        "differences of the engine's own first-order gradient along a random direction are "
        "clearly non-zero.",
    ),
    Requirement(
        "HIGHER-002",
        "Gradients of gradients match finite differences of the gradient",
        statement="The gradient, with respect to the inputs, of <w, g> for g the gradients "
        "autograd.grad returns with create_graph=True MUST match central finite differences "
        "of x -> <w, g(x)> computed with the engine's own first-order gradients, within the "
        "finite-difference tolerance.",
        area=HIGHER_ORDER,
        capabilities=_CREATE_GRAPH,
        tolerances=("directional",),
        source="PyTorch 2.13 observed: for random programs torch.autograd.grad of "
        "(g * w).sum(), with g from torch.autograd.grad(..., create_graph=True), agrees with "
        "central differences of the first-order gradient (torch.autograd.gradgradcheck checks "
        "the same); docs: torch.autograd.grad create_graph, Gradcheck mechanics. " + _SECOND_ORDER,
    ),
    Requirement(
        "HIGHER-003",
        "Gradients of gradients match the reference engine",
        statement="The gradient, with respect to the inputs, of <w, g> for g the gradients "
        "autograd.grad returns with create_graph=True MUST equal the reference engine's within "
        "the dtype's reference tolerance.",
        area=HIGHER_ORDER,
        capabilities=_CREATE_GRAPH,
        tolerances=("reference",),
        source="PyTorch 2.13 behaviour as encoded by the reference engine, whose gradients of "
        "gradients are checked against PyTorch's (tests/reference_engine/); docs: "
        "torch.autograd.grad create_graph.",
    ),
    Requirement(
        "HIGHER-004",
        "A backward from .grad recorded by backward(create_graph=True) accumulates into .grad",
        statement="After backward(create_graph=True) from a root, a backward (without "
        "create_graph) from the sum over the leaves of <w, leaf.grad> MUST leave in each leaf's "
        ".grad the first gradient plus the gradient of that sum, within the finite-difference "
        "tolerance.",
        area=HIGHER_ORDER,
        capabilities=(*_TAPE, "backward_create_graph"),
        tolerances=("directional",),
        source="PyTorch 2.13 observed: (x**3).sum().backward(create_graph=True) gives x.grad = "
        "3x^2 with grad_fn CopyBackwards; x.grad.sum().backward() then leaves x.grad = 3x^2 + 6x "
        "(AccumulateGrad adds in place outside grad mode); docs: torch.Tensor.backward "
        "create_graph. " + _SECOND_ORDER,
    ),
    Requirement(
        "HIGHER-005",
        "backward(inputs=...) fills only the listed leaves",
        statement="backward(inputs=leaves) MUST accumulate into the .grad of each listed leaf "
        "the gradient a backward without inputs gives it, and MUST leave the .grad of every "
        "other leaf as it was.",
        area=HIGHER_ORDER,
        capabilities=(*_TAPE, "backward_inputs"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: (a*b*3).sum().backward(inputs=[a]) gives a.grad = 3b "
        "and leaves b.grad None (and a .grad b already had unchanged); docs: "
        'torch.Tensor.backward inputs ("All other tensors will be ignored").',
    ),
)

_HIGHER_ORDER_FUNCTIONAL: tuple[Requirement, ...] = (
    Requirement(
        "HVP-001",
        "Hessian-vector products match finite differences of the gradient",
        statement="The Hessian-vector product H v of a program's scalarised output, computed "
        "by the engine's own nested differentiation, MUST match central finite differences of "
        "the engine's own gradient along v, within the finite-difference tolerance.",
        area=HIGHER_ORDER_FUNCTIONAL,
        capabilities=("hvp",),
        tolerances=("directional",),
        source="PyTorch 2.13 observed: torch.autograd.functional.hvp of sum(sin(x) exp(x)) "
        "agrees with (grad f(x + h v) - grad f(x - h v)) / 2h to 1e-10; docs: "
        "torch.autograd.functional.hvp (reverse over reverse, create_graph=True), "
        "jax.jvp of jax.grad (The Autodiff Cookbook, Hessian-vector products). Checked element "
        "by element, f being <u, root> for a seed u and v of unit length, against the engine's "
        "own first-order gradient (its vjp) at x + h v and x - h v.",
    ),
)

_FORWARD_MODE: tuple[Requirement, ...] = (
    Requirement(
        "JVP-001",
        "Forward mode agrees with reverse mode",
        statement="For random programs over the op set, the Jacobian-vector product J v of the "
        "engine's forward mode MUST agree with its own vector-Jacobian product J^T u: "
        "<u, J v> = <J^T u, v> within the dtype's reference tolerance.",
        area=FORWARD_MODE,
        capabilities=("forward_mode",),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: tangents from torch.autograd.forward_ad (make_dual, "
        "unpack_dual) and gradients from torch.autograd.grad of the same program satisfy the "
        "identity to rounding; docs: torch.autograd.gradcheck(check_forward_ad=True) checks "
        "the forward-mode Jacobian against the same Jacobian as the backward one.",
    ),
    Requirement(
        "JVP-002",
        "Forward mode matches finite differences",
        statement="For random float64 programs, each output's tangent J v MUST match the "
        "central difference (f(x + h v) - f(x - h v)) / 2h of the engine's own forward pass, "
        "away from kinks.",
        area=FORWARD_MODE,
        capabilities=("forward_mode", "dtype:float64"),
        tolerances=("directional",),
        source="docs: torch.autograd.gradcheck(check_forward_ad=True) compares the forward-mode "
        "Jacobian with central differences in float64; PyTorch 2.13 observed on the op set.",
    ),
    Requirement(
        "JVP-003",
        "Forward mode matches the reference engine",
        statement="For random programs over the op set, the tangent of every output MUST equal "
        "the reference engine's forward-mode tangent for the same inputs and input tangents "
        "within the dtype's reference tolerance.",
        area=FORWARD_MODE,
        capabilities=("forward_mode",),
        tolerances=("reference",),
        source="PyTorch 2.13 forward derivative formulas (the result: entries of PyTorch's "
        "tools/autograd/derivatives.yaml) as encoded by reference_engine/jvps.py, checked "
        "against torch.autograd.forward_ad op by op "
        "(tests/reference_engine/test_refengine_forward_ad.py).",
    ),
    Requirement(
        "JVP-004",
        "Forward mode leaves the primal values alone",
        statement="The outputs of a forward-mode evaluation (the primals of the dual results) "
        "MUST equal, exactly, the outputs of the same program evaluated without tangents.",
        area=FORWARD_MODE,
        capabilities=("forward_mode",),
        tolerances=(),
        source="PyTorch 2.13 observed: unpack_dual(out).primal of a program run on dual tensors "
        "is torch.equal to the plain run's output (the same kernels compute the primal); docs: "
        "torch.autograd.forward_ad.unpack_dual.",
    ),
    Requirement(
        "JVP-005",
        "A tangent has its primal's shape and dtype",
        statement="Every floating-point output that depends on an input with a tangent MUST "
        "have a tangent, of the output's shape and dtype, broadcasting and reductions included.",
        area=FORWARD_MODE,
        capabilities=("forward_mode",),
        tolerances=(),
        source="PyTorch 2.13 observed: unpack_dual(out).tangent of a broadcast add is expanded "
        "to the result's shape, that of sum is 0-d, that of x.double() is float64; make_dual "
        "refuses a tangent of another size ('Trying to set a forward gradient that has a "
        "different size than that of the original Tensor').",
    ),
)

_INPLACE = (*_TAPE, "inplace_ops")
_VIEW = (*_TAPE, "views")

_VIEWS: tuple[Requirement, ...] = (
    Requirement(
        "VIEW-001",
        "Gradients flow through chains of views",
        statement="After backward through a chain of views of a leaf (narrow, and the op set's "
        "transpose, reshape and expand), the leaf's .grad MUST hold, for each of its elements, "
        "the sum of the seed over every element of the last view that shows it.",
        area=VIEWS,
        capabilities=_VIEW,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: x.narrow(1, 0, 2) is a view (x._is_view(), "
        "SliceBackward0) and the gradient through narrow, t(), reshape and expand scatters the "
        "seed back into zeros of x's shape, summing where expand repeats an element; docs: "
        "Tensor Views.",
    ),
    Requirement(
        "VIEW-002",
        "In-place add_ and mul_ on a non-leaf give the gradients of the out-of-place program",
        statement="After a sequence of in-place add_ and mul_ on a non-leaf, backward MUST give "
        "every leaf the gradient of the same program written out of place, each mul_ using the "
        "value its tensor had before it.",
        area=VIEWS,
        capabilities=_INPLACE,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = x * 2; y.mul_(3); y.add_(1); y.sum().backward() "
        "gives x.grad = 6 (MulBackward0 saves y's old value before the write); docs: Autograd "
        "mechanics, In-place operations with autograd.",
    ),
    Requirement(
        "VIEW-003",
        "An in-place op rebases the tensor's history onto its own node",
        statement="An in-place add_ or mul_ on a non-leaf MUST leave it a non-leaf that requires "
        "grad whose grad_fn is a new node with the previous grad_fn among its next nodes, and "
        "on a leaf that does not require grad, with an operand that does, MUST make it a "
        "non-leaf that requires grad.",
        area=VIEWS,
        capabilities=(*_INPLACE, "graph"),
        tolerances=(),
        source="PyTorch 2.13 observed: after y = x * 2; y.mul_(3), y.grad_fn is a new "
        "MulBackward0 whose next_functions start with the old MulBackward0, and add_ then gives "
        "AddBackward0 over it; t = torch.zeros(3); t.add_(w) with w requiring grad gives "
        "is_leaf False, requires_grad True, AddBackward0.",
    ),
    Requirement(
        "VIEW-004",
        "An in-place op through a view of a non-leaf rebases the base",
        statement="An in-place add_ or mul_ on a view (narrow or transpose) of a non-leaf MUST "
        "change the base's values where the view shows them, give the base a new grad_fn, and "
        "make backward through the base give every leaf, the in-place op's operand included, "
        "the gradient of the same program written out of place.",
        area=VIEWS,
        capabilities=(*_VIEW, "inplace_ops"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: b = x * 1; v = b.narrow(1, 0, 2); v.mul_(w); b.grad_fn "
        "becomes CopySlices (next functions: the old MulBackward0 and w's AccumulateGrad), "
        "v.grad_fn AsStridedBackward0, and b.sum().backward() gives x.grad = w on the narrowed "
        "columns and 1 elsewhere, w.grad = b's old values there.",
    ),
    Requirement(
        "VIEW-005",
        "An in-place op on a view of a leaf that requires grad is refused",
        statement="An in-place add_ on a view (narrow, transpose or reshape) of a leaf that "
        "requires grad MUST raise the engine's declared leaf in-place refusal at that call when "
        "grad mode is on, leaving the leaf's values unchanged.",
        area=VIEWS,
        capabilities=_VIEW,
        tolerances=(),
        source="PyTorch 2.13 observed: x.narrow(0, 0, 1).add_(1), x.t().add_(1) and "
        "x.view(-1).add_(1) on a leaf x that requires grad raise RuntimeError: a view of a leaf "
        "Variable that requires grad is being used in an in-place operation.",
    ),
    Requirement(
        "VIEW-006",
        "detach() shares storage but not the graph",
        statement="A write in place through the result of detach() MUST be seen in the values "
        "of the tensor detached, while the detached tensor stays a leaf that does not require "
        "grad and the gradient through the original tensor stays that of the program without "
        "the write.",
        area=VIEWS,
        capabilities=_INPLACE,
        tolerances=("reference",),
        source="PyTorch 2.13 observed: y = x * 2; d = y.detach(); d.add_(1) changes y's values "
        "(one storage, one version counter), d stays a leaf with requires_grad False, and "
        "y.sum().backward() gives x.grad = 2; docs: torch.Tensor.detach.",
    ),
    Requirement(
        "VIEW-007",
        "A leaf written in place under no-grad keeps its gradient semantics",
        statement="An in-place add_ or mul_ on a leaf that requires grad, under no-grad, MUST "
        "leave it a leaf that requires grad with no grad_fn, holding the new values, and a later "
        "backward MUST differentiate at the new values.",
        area=VIEWS,
        capabilities=(*_INPLACE, "no_grad"),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: with torch.no_grad(): x.mul_(2); x.add_(1) leaves x a "
        "leaf with requires_grad True and grad_fn None, and (x * x).sum().backward() then gives "
        "2 * x at the new values (an optimizer step); docs: torch.no_grad.",
    ),
    Requirement(
        "VIEW-008",
        "A view and its base share one version counter",
        statement="When a view (narrow or transpose) of a non-leaf, or its base, is saved for "
        "backward and the other one is then modified in place, the in-place op MUST succeed and "
        "a later backward through the saving op MUST raise the engine's declared refusal for a "
        "modified saved tensor at that call.",
        area=VIEWS,
        capabilities=(*_VIEW, "inplace_ops"),
        tolerances=(),
        source="PyTorch 2.13 observed: b = x * 1; s = b.narrow(0, 0, 2).sin(); b.add_(1); "
        "s.sum().backward() raises RuntimeError: one of the variables needed for gradient "
        "computation has been modified by an inplace operation: [torch.FloatTensor [2]], which "
        "is output 0 of AsStrided, is at version 1; expected version 0 instead; writing the "
        "view after b.sin() names output 0 of torch::autograd::CopySlices.",
    ),
)

_LOW_PRECISION = (
    "Low-precision dtypes NumPy lacks (bfloat16) are made and read through the adapter's `cast` "
    "(docs/adapters.md); a dtype the engine does not declare makes its cases not applicable."
)

_DTYPES: tuple[Requirement, ...] = (
    Requirement(
        "DTYPE-002",
        "Every op keeps its operands' low-precision dtype",
        statement="Each op of the op set applied to float16 or bfloat16 operands (with Python "
        "numbers as parameters, such as pow's exponent) MUST return a result of that dtype, "
        "reductions and BCE-with-logits included, and gt a bool result.",
        area=DTYPES,
        capabilities=(),
        tolerances=(),
        source="PyTorch 2.13 observed: sum, mean, matmul, linear, pow(x, 1.5), "
        "binary_cross_entropy_with_logits of float16 or bfloat16 tensors are float16 or "
        "bfloat16 (CPU sums accumulate in float32 internally and round once: 2048 + 16 ones "
        "sum to 2064 in float16); Python scalars are weakly typed; docs: Tensor Attributes "
        "(type promotion). " + _LOW_PRECISION,
    ),
    Requirement(
        "DTYPE-003",
        "Gradients in float16, bfloat16 and float32 have the input's dtype and its precision",
        statement="The VJP of each differentiable op applied to float16, bfloat16 or float32 "
        "operands MUST return, for each operand, a gradient of that operand's dtype that agrees "
        "with the float64 gradient at the same (exactly representable) values within the "
        "dtype's tolerance, derived from its machine epsilon.",
        area=DTYPES,
        capabilities=(),
        tolerances=("reference",),
        source="PyTorch 2.13 observed: torch.autograd.grad of every op of the op set in float16 "
        "and bfloat16 returns float16 and bfloat16 gradients, within a few units of their eps "
        "(2**-10, 2**-7) of the float64 gradient scaled by the computation's largest magnitude "
        "(conformance/spec/tolerances.py); docs: Autograd mechanics, torch.finfo. "
        + _LOW_PRECISION,
    ),
    Requirement(
        "DTYPE-004",
        "Mixed-dtype ops promote the result, and each gradient keeps its input's dtype",
        statement="add, sub, mul and div of operands of two float dtypes MUST return a result of "
        "the promoted dtype (torch.result_type: the wider dtype, except that a dimensioned "
        "operand's dtype beats a 0-d operand's) and MUST return each operand's gradient in that "
        "operand's own dtype, with the float64 gradient's values within the tolerance of the "
        "lower of the two precisions involved.",
        area=DTYPES,
        capabilities=("dtype:float32", "dtype:float64"),  # two float dtypes to mix
        tolerances=("reference",),
        source="PyTorch 2.13 observed: float32 * float64 is float64 with gradients float32 and "
        "float64; float16 + float32 is float32 with a float16 gradient for the float16 operand; "
        "a (2, 3) float16 times a 0-d float64 is float16 and the 0-d operand's gradient is "
        "float64 (the gradient is computed in the promoted dtype and cast back by "
        "ToCopyBackward / the op's autograd formula); docs: Tensor Attributes (type promotion), "
        "torch.result_type.",
    ),
)

_DTYPES_TAPE: tuple[Requirement, ...] = (
    Requirement(
        "DTYPE-005",
        ".grad of a low-precision or mixed-dtype leaf has the leaf's dtype",
        statement="After backward through ops on float16 or bfloat16 leaves, and through a "
        "mixed-dtype op, every leaf's .grad MUST have that leaf's own dtype.",
        area=DTYPES_TAPE,
        capabilities=_TAPE,
        tolerances=(),
        source="PyTorch 2.13 observed: x.grad.dtype == x.dtype for float16 and bfloat16 leaves "
        "(a float32 seed for a float16 root is cast to float16), and for a float16 leaf a "
        "multiplied by a float32 leaf b, a.grad is float16 and b.grad float32; AccumulateGrad "
        "refuses a .grad of another dtype; docs: torch.Tensor.grad. " + _LOW_PRECISION,
    ),
    Requirement(
        "DTYPE-006",
        "Complex gradients follow PyTorch's convention",
        statement="For a real loss L of a complex leaf z = x + iy (through mul, add, sub, div, "
        "exp, sin or tanh, then abs), backward MUST leave in z.grad, of z's complex dtype, "
        "dL/dx + i dL/dy (the conjugate Wirtinger derivative, doubled), not its conjugate.",
        area=DTYPES_TAPE,
        capabilities=(*_TAPE, "complex_grads"),
        tolerances=("finite_difference",),
        source="PyTorch 2.13 observed: for L = |z|^2 summed, z.grad = 2z (2 + 4j at 1 + 2j); for "
        "L = |c z|^2, 2|c|^2 z; for L = |exp z|^2, 2 e^(2x) with no imaginary part; docs: "
        "Autograd mechanics, 'Autograd for Complex Numbers'. Not applicable unless an engine "
        "opts in (`complex_grads`).",
    ),
)

REQUIREMENTS: tuple[Requirement, ...] = (
    *_FIRST,
    *_ERRORS,
    *_HOOKS,
    *_GRAD_MODES,
    *_ALIASING,
    *_HIGHER_ORDER,
    *_HIGHER_ORDER_FUNCTIONAL,
    *_FORWARD_MODE,
    *_VIEWS,
    *_DTYPES,
    *_DTYPES_TAPE,
)

BY_ID: dict[str, Requirement] = {req.id: req for req in REQUIREMENTS}
if len(BY_ID) != len(REQUIREMENTS):
    raise ValueError("duplicate requirement id in the catalogue")
