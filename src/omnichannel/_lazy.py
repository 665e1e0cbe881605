"""Lazy re-exports (PEP 562), shared by the two public namespaces.

``omnichannel`` and ``omnichannel.plugin`` list their names by defining module; a name is
imported from there the first time it is read, so ``omni --help`` and plugin discovery do not
import the whole SDK.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_module(
    name: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of module ``name`` re-exporting ``exports``."""
    module_of = {item: module for module, items in exports.items() for item in items}

    def __getattr__(attribute: str) -> Any:
        module = module_of.get(attribute)
        if module is None:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[name], attribute, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[name])
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
