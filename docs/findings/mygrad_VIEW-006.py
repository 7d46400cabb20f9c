"""mygrad VIEW-006: cutting the graph copies the data; an in-place op then records a creator."""

import mygrad as mg
import numpy as np

x = mg.tensor([1.0, 2.0, 3.0])
y = x * 2
assert not hasattr(y, "detach"), "mygrad now has detach(): retest with it"
# mygrad has no detach(): a constant made from the data is how its users cut the graph.
d = mg.tensor(y.data, constant=True)
assert not np.shares_memory(d.data, y.data), "mg.tensor(y.data, constant=True) now shares memory"
d += mg.tensor([1.0, 1.0, 1.0], constant=True)
# PyTorch: d = y.detach() shares y's storage, so y becomes [3, 5, 7], and d stays a leaf.
assert (y.data == [2.0, 4.0, 6.0]).all(), "the write reached y"
assert d.creator is not None, "d stays without a creator after the in-place add"
print(
    f"DIVERGENCE VIEW-006: d = tensor(y.data, constant=True); d += 1 leaves y = {y.data.tolist()} "
    f"(a copy) and gives d a creator ({type(d.creator).__name__}); PyTorch's y.detach() shares "
    "y's storage and stays a leaf"
)
