"""jax DTYPE-004: a 0-d float32 operand promotes a dimensioned float16 operand to float32."""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
a = jnp.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float16))
b = jnp.asarray(np.array(2.0, dtype=np.float32))  # 0-d
y, pullback = jax.vjp(lambda a, b: a * b, a, b)
grad_a, grad_b = pullback(jnp.ones(3, y.dtype))
assert y.dtype == jnp.float32, f"jax now gives {y.dtype} for float16 (3,) * float32 ()"
# The gradients keep their operands' dtypes, as in PyTorch:
assert grad_a.dtype == jnp.float16 and grad_b.dtype == jnp.float32
print(
    f"DIVERGENCE DTYPE-004: float16 (3,) * float32 () is {y.dtype} (PyTorch 2.13: float16, a "
    "dimensioned operand's dtype beats a 0-d operand's; in JAX only Python scalars are weakly "
    "typed)"
)
