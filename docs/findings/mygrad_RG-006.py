"""mygrad RG-006: there is no enable-grad block, so none can be left by an exception.

mygrad's only grad-mode context is no_autodiff; it restores tracking on exit, also by an
exception, but the requirement's enable-grad half has no mygrad counterpart.
"""

import mygrad as mg
from mygrad._utils import graph_tracking

w = mg.tensor([1.0, 2.0])
try:
    with mg.no_autodiff:
        raise KeyError
except KeyError:
    pass
assert (w * w).creator is not None  # tracking is back after leaving no_autodiff by an exception
assert graph_tracking.__all__ == ["no_autodiff"], "stale: mygrad has a re-enabling context now"
assert not any(hasattr(mg, n) for n in ("enable_grad", "enable_autodiff", "set_grad_enabled"))
print("DIVERGENCE RG-006: mygrad has no enable_grad context (only no_autodiff)")
