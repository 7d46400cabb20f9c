"""mygrad ACC-003: a second backward overwrites .grad instead of adding to it."""

import mygrad as mg

w = mg.tensor([1.0, 2.0])
mg.sum(3 * w).backward()
first = w.grad.copy()
mg.sum(w * w).backward()
# PyTorch: gradients of two different losses add up in w.grad: 3 + 2w = [5, 7].
assert (first == [3.0, 3.0]).all()
assert (w.grad == [2.0, 4.0]).all(), "mygrad now accumulates across backward calls: stale"
print(f"DIVERGENCE ACC-003: after two losses w.grad = {w.grad} (PyTorch: [5. 7.], the sum)")
