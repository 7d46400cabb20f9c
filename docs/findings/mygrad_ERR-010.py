"""mygrad ERR-010: an in-place op on a non-constant leaf is carried out and recorded."""

import mygrad as mg

b = mg.tensor([1.0, 2.0])  # a leaf that requires grad, in PyTorch's terms
b += mg.tensor([1.0, 1.0], constant=True)  # PyTorch: RuntimeError: a leaf Variable ... in-place
assert (b.data == [2.0, 3.0]).all(), "mygrad no longer changes the leaf"
assert b.creator is not None, "mygrad no longer records the in-place add on a leaf"
recorded = type(b.creator).__name__
# Under no_autodiff the same add is an optimizer step, and b stays a leaf, as in PyTorch:
w = mg.tensor([1.0, 2.0])
with mg.no_autodiff:
    w += 1
assert w.creator is None and not w.constant and (w.data == [2.0, 3.0]).all()
print(
    f"DIVERGENCE ERR-010: b += c on a leaf ran in grad mode: b = {b.data}, now a non-leaf "
    f"with creator {recorded} (PyTorch refuses and leaves b as it was)"
)
