"""mygrad VJP-001: mygrad has no functional gradient (autograd.grad); backward() writes .grad.

The requirement asks that a functional VJP leave .grad alone. mygrad's only way to get a gradient
is Tensor.backward, which replaces the .grad of every tensor in the graph.
"""

import mygrad as mg

assert not any(hasattr(mg, name) for name in ("grad", "vjp", "autograd")), "stale: has an API now"
w = mg.tensor([1.0, 2.0])
mg.sum(3 * w).backward()
kept = w.grad.copy()
mg.sum(w * w).backward()  # the only way to ask mygrad for d(sum w^2)/dw
assert (w.grad != kept).any()
print(
    f"DIVERGENCE VJP-001: no functional gradient API; backward replaced w.grad {kept} by {w.grad}"
)
