"""jax RAND-001: the derivative of jnp.abs at exactly 0 is 1; PyTorch (and the reference) give 0."""

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
for dtype in (jnp.float64, jnp.float32):
    grad = jax.grad(jnp.abs)(jnp.asarray(0.0, dtype))
    # PyTorch: torch.abs backward is grad * sign(x), and sign(0) = 0.
    assert float(grad) == 1.0, "stale: jax's abs derivative at 0 changed"
    assert float(jax.grad(jnp.abs)(jnp.asarray(-0.0, dtype))) == 1.0  # and at -0.0
print("DIVERGENCE RAND-001: jax.grad(jnp.abs)(0.0) == 1.0 (PyTorch: sign(0) = 0)")
