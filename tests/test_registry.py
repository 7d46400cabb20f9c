"""Backend specifiers and adapter loading, at the API level (the CLI's tests cover exit codes).

Every refusal is a BackendError whose message is one line naming what to do about it.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.backends import registry
from conformance.backends.registry import (
    BUILTINS,
    BackendError,
    BackendSpec,
    Builtin,
    known_backends,
    load_backend,
    parse_spec,
)
from conformance.protocol import FUNCTIONAL_METHODS, GRAPH_METHODS, SEED_METHODS, TAPE_METHODS

torch = pytest.importorskip("torch")


def one_line_error(spec: str) -> str:
    with pytest.raises(BackendError) as caught:
        load_backend(spec)
    message = str(caught.value)
    assert message and "\n" not in message, f"not one line: {message!r}"
    return message


_module_numbers = itertools.count()


@pytest.fixture
def adapter_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Writes an importable module from source and returns its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> str:
        name = f"fake_adapter_{next(_module_numbers)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        importlib.invalidate_caches()
        return name

    return write


# -- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "name", "device", "target"),
    [
        ("torch", "torch", None, BUILTINS["torch"].target),
        ("torch:cpu", "torch", "cpu", BUILTINS["torch"].target),
        ("torch:cuda", "torch", "cuda", BUILTINS["torch"].target),
        ("torch:cuda:1", "torch", "cuda:1", BUILTINS["torch"].target),
        ("  reference  ", "reference", None, BUILTINS["reference"].target),
        ("pkg.adapter:MyAdapter", "pkg.adapter:MyAdapter", None, "pkg.adapter:MyAdapter"),
        ("pkg.adapter:MyAdapter:cpu", "pkg.adapter:MyAdapter", "cpu", "pkg.adapter:MyAdapter"),
        ("adapter:MyAdapter:gpu:2", "adapter:MyAdapter", "gpu:2", "adapter:MyAdapter"),
    ],
)
def test_parse_spec(spec: str, name: str, device: str | None, target: str) -> None:
    assert parse_spec(spec) == BackendSpec(name, device, target)


def test_label_is_the_name_with_the_device_when_one_is_given() -> None:
    assert parse_spec("torch").label == "torch"
    assert parse_spec("torch:cuda:1").label == "torch:cuda:1"
    assert parse_spec("pkg.adapter:MyAdapter:cpu").label == "pkg.adapter:MyAdapter:cpu"


def test_an_import_path_adapter_is_labelled_by_its_path_not_its_declared_name() -> None:
    spec = registry.with_device(parse_spec("tests.crashing_adapters:DoubledGradientAdapter"))
    assert load_backend(spec).name == "reference"  # what the class declares
    assert spec.label == "tests.crashing_adapters:DoubledGradientAdapter:cpu"


def test_a_spec_crosses_a_process_boundary_whole() -> None:
    for text in ("torch", "torch:cuda:1", "pkg.adapter:MyAdapter:cpu"):
        spec = parse_spec(text)
        assert BackendSpec.from_json(spec.to_json()) == spec
        assert registry.spec_argument(spec.to_json()) == spec
    # Taken as it is: not looked up again among the known backends.
    foreign = BackendSpec("gone", "cpu", "gone.adapter:Gone")
    assert registry.spec_argument(foreign.to_json()) == foreign


def test_bare_name_loads_the_default_device() -> None:
    spec = registry.with_device(parse_spec("torch"))
    assert spec == BackendSpec("torch", "cpu", BUILTINS["torch"].target)
    adapter = load_backend(spec)
    assert (adapter.name, adapter.device) == ("torch", "cpu")


def test_import_path_without_a_class_is_refused() -> None:
    with pytest.raises(BackendError, match=r"needs a class, module:Class"):
        parse_spec("pkg.adapter")


# -- unknown backends and missing engines -------------------------------------------------------
@pytest.mark.parametrize("spec", ["nosuchengine", "nosuchengine:cpu", "Torch"])
def test_unknown_backend_lists_the_known_ones(spec: str) -> None:
    message = one_line_error(spec)
    assert f"unknown backend {spec.partition(':')[0]!r}" in message
    for name in known_backends():
        assert name in message
    assert "package.module:ClassName" in message


def test_engine_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = "engine_that_is_not_installed"
    assert importlib.util.find_spec(engine) is None
    monkeypatch.setitem(
        BUILTINS, "fakeengine", Builtin("conformance.backends.fake:FakeAdapter", engine, "fakex")
    )
    message = one_line_error("fakeengine:cpu")
    assert "pip install 'autograd-conformance[fakex]'" in message
    assert "fakeengine" in message


@pytest.mark.parametrize("name", [n for n, b in BUILTINS.items() if b.extra])
def test_every_builtin_engine_that_is_absent_names_its_extra(name: str) -> None:
    if importlib.util.find_spec(BUILTINS[name].engine_module) is not None:
        assert load_backend(name).name == name
    else:
        assert f"[{BUILTINS[name].extra}]" in one_line_error(name)


def test_adapter_raising_engine_missing_at_construction(
    adapter_module: Callable[[str], str],
) -> None:
    module = adapter_module(
        """
        from conformance.protocol import Capabilities, EngineMissing

        class Adapter:
            name = "lazy"
            devices = ("cpu",)
            capabilities = Capabilities(tape=False, graph=False)

            def __init__(self, device):
                raise EngineMissing("lazy", "lazyextra")

            version = environment = tensor = to_numpy = apply = vjp = None
        """
    )
    assert "pip install 'autograd-conformance[lazyextra]'" in one_line_error(f"{module}:Adapter")


# -- devices ------------------------------------------------------------------------------------
def test_torch_cuda_on_this_machine_never_falls_back_to_the_cpu() -> None:
    if torch.cuda.is_available():
        assert load_backend("torch:cuda").device == "cuda"
    else:
        assert "no CUDA device" in one_line_error("torch:cuda")
        assert "no CUDA device" in one_line_error("torch:cuda:0")


def test_torch_cuda_without_a_gpu_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = one_line_error("torch:cuda")
    assert message.startswith("torch:cuda: no CUDA device is visible to PyTorch")


def test_torch_cuda_index_beyond_the_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert "only 1 CUDA device(s) are visible" in one_line_error("torch:cuda:3")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("torch:tpu", "backend 'torch' has no device 'tpu'; its devices: cpu, cuda"),
        ("reference:cuda", "backend 'reference' has no device 'cuda'; its devices: cpu"),
        ("torch:cpu:1", "torch: unknown device 'cpu:1'"),
    ],
)
def test_unknown_devices_are_refused(spec: str, expected: str) -> None:
    assert expected in one_line_error(spec)


def test_installed_engines_are_found_without_importing_them() -> None:
    engines = {spec.engine: spec for spec in registry.installed_engines()}
    assert engines["torch"] == BackendSpec("torch", None, BUILTINS["torch"].target)
    for name, builtin in BUILTINS.items():
        assert (name in engines) == (importlib.util.find_spec(builtin.engine_module) is not None)


def test_probes_list_cuda_only_where_it_exists() -> None:
    from conformance.run.probe import probe_backends

    probes = probe_backends([parse_spec("torch")], 300, Path.cwd(), every_device=True)
    assert [p.label for p in probes] == ["torch:cpu", "torch:cuda"]
    assert probes[0].info is not None and probes[0].info["label"] == "torch:cpu"
    assert (probes[1].info is not None) == torch.cuda.is_available()
    assert (probes[1].unavailable is not None) != torch.cuda.is_available()


# -- adapters that do not conform ---------------------------------------------------------------
def test_class_missing_functional_methods_names_them(adapter_module: Callable[[str], str]) -> None:
    module = adapter_module(
        """
        from conformance.protocol import Capabilities

        class Adapter:
            name = "half"
            devices = ("cpu",)
            capabilities = Capabilities(tape=False, graph=False)

            def version(self): return "0"
            def environment(self): return {}
            def tensor(self, array, *, requires_grad=False): return array
        """
    )
    message = one_line_error(f"{module}:Adapter")
    assert "does not satisfy the adapter protocol: missing to_numpy, apply, vjp" in message
    assert "docs/adapters.md" in message


def test_tape_capability_requires_the_tape_methods(adapter_module: Callable[[str], str]) -> None:
    methods = "\n".join(f"    def {m}(self, *a, **k): pass" for m in FUNCTIONAL_METHODS)
    module = adapter_module(
        "from conformance.protocol import Capabilities\n\n"
        "class Adapter:\n"
        "    name = 'claims_tape'\n"
        "    devices = ('cpu',)\n"
        "    capabilities = Capabilities(tape=True, graph=True)\n" + methods + "\n"
    )
    message = one_line_error(f"{module}:Adapter")
    # Followed by the methods of the other capabilities a tape engine has by default.
    assert f"missing {', '.join(TAPE_METHODS + GRAPH_METHODS)}, " in message
    assert all(f" {method}" in message for method in SEED_METHODS)


def test_class_without_capabilities_is_told_so(adapter_module: Callable[[str], str]) -> None:
    module = adapter_module("class Adapter:\n    name = 'x'\n    devices = ('cpu',)\n")
    message = one_line_error(f"{module}:Adapter")
    assert "missing" in message and "capabilities" in message and "vjp" in message


def test_module_without_the_class(adapter_module: Callable[[str], str]) -> None:
    module = adapter_module("class Other:\n    pass\n")
    assert f"{module!r} has no class 'Adapter'" in one_line_error(f"{module}:Adapter")


def test_module_that_cannot_be_found() -> None:
    message = one_line_error("no_such_package.adapter:Adapter")
    assert "cannot import 'no_such_package.adapter'" in message


def test_module_raising_at_import_gives_one_line(adapter_module: Callable[[str], str]) -> None:
    module = adapter_module(
        'raise RuntimeError("engine build is broken\\nsee the second line\\nand a third")\n'
    )
    message = one_line_error(f"{module}:Adapter")
    assert f"importing {module!r} raised RuntimeError: engine build is broken" in message


def test_module_failing_an_inner_import_gives_one_line(
    adapter_module: Callable[[str], str],
) -> None:
    module = adapter_module("import engine_that_is_not_installed\n")
    message = one_line_error(f"{module}:Adapter")
    assert "No module named 'engine_that_is_not_installed'" in message


def test_a_missing_engine_says_how_to_install_it() -> None:
    from conformance.protocol import EngineMissing

    own = EngineMissing("mygpu", install="pip install mygpuengine")
    assert str(own) == "backend 'mygpu' needs its engine: pip install mygpuengine"
    shipped = EngineMissing("jax", "jax")
    assert str(shipped) == "backend 'jax' needs its engine: pip install 'autograd-conformance[jax]'"
    with pytest.raises(TypeError):
        EngineMissing("mygpu")
