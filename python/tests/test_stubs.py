"""The type stubs shipped in the wheel name every public attribute, with the signatures the module
has, and every public function and method explains each of its arguments in its docstring (what
`help(lenet_gpu.Model)` and editors show)."""

import ast
import inspect
import pathlib
import types

import pytest

import lenet_gpu
from lenet_gpu import _native

PACKAGE = pathlib.Path(lenet_gpu.__file__).parent


def stub(name: str) -> ast.Module:
    path = PACKAGE / name
    assert path.exists(), f"{path} is not installed with the package"
    return ast.parse(path.read_text())


def public(names) -> set:
    return {n for n in names if not n.startswith("_")}


def defined(body) -> dict:
    """The names a module's or class's body defines, each with its node (functions, classes,
    annotated and assigned names)."""
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            out.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return out


def runtime_public(module) -> set:
    """A module's public attributes: what it defines or re-exports (not the modules it imports, nor
    `from __future__ import annotations`)."""
    return {
        n
        for n in public(dir(module))
        if not isinstance(getattr(module, n), types.ModuleType) and n != "annotations"
    }


def test_the_package_stub_names_every_public_attribute():
    tree = defined(stub("__init__.pyi").body)
    assert runtime_public(lenet_gpu) == public(tree)
    assert set(lenet_gpu.__all__) == public(tree)
    assert (PACKAGE / "py.typed").exists()


def instance_attributes() -> set:
    return public(vars(lenet_gpu.Model(device="cpu")))


def test_the_model_stub_names_every_public_attribute():
    model = defined(stub("__init__.pyi").body)["Model"]
    in_stub = public(defined(model.body))
    assert public(dir(lenet_gpu.Model)) | instance_attributes() == in_stub


def stub_parameters(node: ast.FunctionDef) -> list:
    """[(name, default source or None)] of a stub's function, self and cls left out."""
    args = node.args.args
    defaults = [None] * (len(args) - len(node.args.defaults)) + node.args.defaults
    return [
        (a.arg, None if d is None else ast.literal_eval(d))
        for a, d in zip(args, defaults)
        if a.arg not in ("self", "cls")
    ]


def runtime_parameters(f) -> list:
    return [
        (p.name, None if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(f).parameters.values()
        if p.name not in ("self", "cls")
    ]


def public_functions():
    """(qualified name, runtime callable, stub node) of every public function and method."""
    tree = defined(stub("__init__.pyi").body)
    model = defined(tree["Model"].body)
    out = [(n, getattr(lenet_gpu, n), node) for n, node in tree.items() if isinstance(node, ast.FunctionDef)]
    for name, node in model.items():
        if isinstance(node, ast.FunctionDef) and (name == "__init__" or not name.startswith("_")):
            attr = inspect.getattr_static(lenet_gpu.Model, name)
            if isinstance(attr, property):
                continue
            out.append((f"Model.{name}", getattr(lenet_gpu.Model, name), node))
    return out


@pytest.mark.parametrize("name, function, node", public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_stub_signatures_are_the_modules(name, function, node):
    assert stub_parameters(node) == runtime_parameters(function), name


@pytest.mark.parametrize("name, function, node", public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_docstrings_explain_every_argument(name, function, node):
    doc = inspect.getdoc(lenet_gpu.Model if name == "Model.__init__" else function)
    assert doc, f"{name} has no docstring"
    for parameter, _ in runtime_parameters(function):
        assert f"\n{parameter} : " in doc, f"{name}'s docstring does not explain {parameter!r}"


def test_every_property_and_class_has_a_docstring():
    for name in public(dir(lenet_gpu.Model)):
        attr = inspect.getattr_static(lenet_gpu.Model, name)
        target = attr.fget if isinstance(attr, property) else getattr(lenet_gpu.Model, name)
        assert inspect.getdoc(target), f"Model.{name} has no docstring"
    for name in ("Model", "GpuError", "DivergedError"):
        assert inspect.getdoc(getattr(lenet_gpu, name)), name
    doc = inspect.getdoc(lenet_gpu.Model)
    for attribute in instance_attributes():
        assert f"\n{attribute} : " in doc, f"Model's docstring does not explain {attribute!r}"
    text = "\n".join(line.rstrip() for line in inspect.getdoc(lenet_gpu.Model.fit).splitlines())
    assert "Returns" in text


def test_the_extension_stub_names_everything_the_extension_has():
    tree = defined(stub("_native.pyi").body)
    assert runtime_public(_native) == public(tree)
    session = defined(tree["Session"].body)
    assert public(dir(_native.Session)) == public(session)
    for name, node in session.items():
        if isinstance(node, ast.FunctionDef) and not name.startswith("_"):
            f = getattr(_native.Session, name)
            if callable(f):
                assert stub_parameters(node) == runtime_parameters(f), f"Session.{name}"
