"""Import the grad-cam package without the libraries it loads only for features not used here.

``import pytorch_grad_cam`` imports scikit-learn (for KPCA-CAM), matplotlib (for plotting
helpers), SciPy (a 3-D zoom) and torchvision (a preprocessing helper, and through it
torch._dynamo, sympy and triton): about 4 s of CPU and 330 MB on two cores, measured, before
the first Grad-CAM can run. The CAM methods this project uses (Grad-CAM, Grad-CAM++, HiResCAM,
EigenCAM, guided backpropagation) need none of them.

While the package is imported, those libraries -- only those not imported already -- are
replaced by stand-ins; every name the package takes from them becomes a placeholder that
imports the real library the first time it is called or looked into. The stand-ins are removed
from ``sys.modules`` straight after, so any other import of these libraries gets the real ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any

# The modules grad-cam's package imports for features this project does not use (grad-cam 1.5).
DEFERRED = ("sklearn", "matplotlib", "scipy", "torchvision")

_lock = threading.Lock()


class _Deferred:
    """A name taken from a deferred module: the real object is imported on first use."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def _real(self) -> Any:
        module = importlib.import_module(self._module)
        try:
            return getattr(module, self._name)
        except AttributeError:  # a submodule not imported yet (matplotlib.pyplot)
            return importlib.import_module(f"{self._module}.{self._name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return getattr(self._real(), attr)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


class _StandIn(types.ModuleType):
    """A module whose every attribute is a ``_Deferred`` name of the real module."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Deferred(self.__name__, name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.made: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        self.made.append(spec.name)
        module = _StandIn(spec.name)
        module.__path__ = []  # a package, so that its submodules come here too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def import_grad_cam() -> types.ModuleType:
    """The ``pytorch_grad_cam`` package, imported with its unused dependencies deferred."""
    if "pytorch_grad_cam" in sys.modules:
        return sys.modules["pytorch_grad_cam"]
    with _lock:
        if "pytorch_grad_cam" in sys.modules:
            return sys.modules["pytorch_grad_cam"]
        roots = tuple(r for r in DEFERRED if r not in sys.modules)
        finder = _Finder(roots)
        sys.meta_path.insert(0, finder)
        try:
            module = importlib.import_module("pytorch_grad_cam")
        finally:
            sys.meta_path.remove(finder)
            for name in finder.made:
                sys.modules.pop(name, None)
        return module
