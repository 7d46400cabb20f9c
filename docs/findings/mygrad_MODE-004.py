"""mygrad MODE-004: no_autodiff is one process-wide switch, not a per-thread grad mode."""

import threading

import mygrad as mg

w = mg.tensor([1.0, 2.0])  # requires grad, in PyTorch's terms
c = mg.tensor([1.0, 2.0], constant=True)  # does not
seen = {}


def run() -> None:
    seen["thread"] = w * 2
    seen["constant"] = -c


# A thread started inside no_autodiff: PyTorch's new thread starts with grad mode on.
with mg.no_autodiff:
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
assert seen["thread"].creator is None, "mygrad now records in a thread started in no_autodiff"
# Under no_autodiff mygrad flags every op result non-constant, so the thread's -c "requires grad"
# (PyTorch: False, c does not), where the same op outside no_autodiff gives a constant.
assert not seen["constant"].constant and (-c).constant

# The main thread while another thread is inside no_autodiff: PyTorch's main thread records.
entered, release = threading.Event(), threading.Event()


def hold() -> None:
    with mg.no_autodiff:
        entered.set()
        release.wait()


holder = threading.Thread(target=hold, daemon=True)
holder.start()
entered.wait()
main = w * 2
release.set()
holder.join()
assert main.creator is None, "mygrad's no_autodiff in one thread no longer stops the others"
after = w * 2
assert after.creator is not None  # recording is back once the other thread left its block
print(
    "DIVERGENCE MODE-004: in a thread started inside no_autodiff, w * 2 recorded no creator and "
    "-c of a constant c came out non-constant; in the main thread, while another thread was "
    "inside no_autodiff, w * 2 recorded no creator (PyTorch: grad mode is per thread, on in both)"
)
