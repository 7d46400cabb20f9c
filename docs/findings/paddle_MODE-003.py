"""paddle MODE-003: paddle.set_grad_enabled(False) as a decorator does not set the mode per call.

Its __enter__ does nothing and its __exit__ puts back the mode found when it was constructed, so
decorating leaves grad mode off, the body runs in whatever mode the caller is in, and every call
ends by switching grad mode to the construction-time mode.
"""

import paddle

assert paddle.is_grad_enabled()
decorator = paddle.set_grad_enabled(False)  # switches the mode on construction, as in PyTorch


@decorator
def body() -> bool:
    return paddle.is_grad_enabled()


# PyTorch: set_grad_enabled.__call__ puts back the mode it found: True again here.
assert not paddle.is_grad_enabled(), "decorating now restores the mode: the finding is stale"
assert body() is False
assert paddle.is_grad_enabled()  # the first call's exit restored the construction-time mode
assert body() is True  # PyTorch: the body always runs with grad mode off
with paddle.no_grad():
    body()
    leaked = paddle.is_grad_enabled()
assert leaked is True  # PyTorch: the caller's no_grad mode (False) is back after the call
print(
    "DIVERGENCE MODE-003: @paddle.set_grad_enabled(False) turns grad mode off when decorating, "
    "runs the body with grad mode on from the second call, and turns it on in a no_grad caller"
)
