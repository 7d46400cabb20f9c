"""jax JVP-003: the forward-mode tangent of jnp.abs at exactly 0 is t; PyTorch gives 0."""

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
for dtype in (jnp.float64, jnp.float32):
    zero, one = jnp.asarray(0.0, dtype), jnp.asarray(1.0, dtype)
    _, tangent = jax.jvp(jnp.abs, (zero,), (one,))
    # PyTorch: the tangent of torch.abs is t * sgn(x), and sgn(0) = 0 (forward_ad gives 0.).
    assert float(tangent) == 1.0, "stale: jax's abs tangent at 0 changed"
    assert float(jax.jvp(jnp.abs, (-zero,), (one,))[1]) == 1.0  # and at -0.0
print("DIVERGENCE JVP-003: jax.jvp(jnp.abs, (0.0,), (1.0,)) gives tangent 1.0 (PyTorch: 0.0)")
