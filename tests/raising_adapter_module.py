"""An adapter module that raises while being imported: `tests.raising_adapter_module:Adapter`."""

raise RuntimeError("raising_adapter_module: engine ABI mismatch (built for 2.0, found 1.4)")
