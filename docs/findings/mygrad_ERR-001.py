"""mygrad ERR-001: backward() on an output of several elements seeds it with ones."""

import mygrad as mg

x = mg.tensor([1.0, 2.0, 3.0])
y = x * 2  # shape (3,): PyTorch needs an explicit gradient here
y.backward()  # PyTorch: RuntimeError: grad can be implicitly created only for scalar outputs
assert (x.grad == [2.0, 2.0, 2.0]).all(), "mygrad no longer seeds a non-scalar output with ones"
print(f"DIVERGENCE ERR-001: backward() on a (3,) output ran, x.grad = {x.grad} (PyTorch refuses)")
