"""An engine that cannot be imported: tests.crashing_adapters.ImportRaisingAdapter imports it."""

raise RuntimeError("broken_engine: libbroken.so: undefined symbol: grad_kernel_v2")
