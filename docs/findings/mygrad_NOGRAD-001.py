"""mygrad NOGRAD-001: results computed under no_autodiff are not constant."""

import mygrad as mg

w = mg.tensor([1.0, 2.0])  # constant=False: PyTorch's requires_grad=True
with mg.no_autodiff:
    y = w * w
# PyTorch: under torch.no_grad(), w * w has requires_grad False and grad_fn None.
assert y.creator is None
assert y.constant is False, "results under no_autodiff are now constant: the finding is stale"
print("DIVERGENCE NOGRAD-001: w * w under no_autodiff has constant=False, i.e. requires_grad True")
