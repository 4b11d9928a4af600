"""Lazy package exports (PEP 562): a package's public names are imported on first use.

Importing a light submodule such as `florenz.model.config` runs its package's `__init__` first; the CLI
imports those to build its flags and must not pay for importing torch just to print --help.
"""

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` (a module path) and returns its `name`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
