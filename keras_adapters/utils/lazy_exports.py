"""Package names imported on first use (PEP 562), declared as ordinary imports.

A package whose public names come from heavy modules (Keras, TensorFlow,
keras-tuner) lists them as `from module import name` statements under
`if TYPE_CHECKING:`, where documentation tools, IDEs and readers see them,
and ends with `__getattr__, __dir__ = lazy_exports(__name__)`: each name is
imported from its module the first time it is looked up
(`package.name`, `from package import name`), so importing the package, or
one light submodule of it, loads none of them. Submodules are imported on
first use too (`package.submodule`), as if the package had imported them.
"""

import ast
import importlib
import importlib.util
import sys

__all__ = ["lazy_exports"]


def _declared_imports(module_name):
    """The names a module imports under `if TYPE_CHECKING:`: `{name: (module, attribute)}`."""
    module = sys.modules[module_name]
    tree = ast.parse(module.__spec__.loader.get_source(module_name))
    exports = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) in {
                "TYPE_CHECKING", "typing.TYPE_CHECKING"}):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.level == 0:
                for alias in statement.names:
                    exports[alias.asname or alias.name] = (statement.module, alias.name)
    return exports


def lazy_exports(module_name):
    """The `__getattr__` and `__dir__` of a package with lazily imported names.

    Args:
        module_name: the package's `__name__`; its source declares the names
            as `from module import name` statements under a top-level
            `if TYPE_CHECKING:`.

    Returns:
        `(__getattr__, __dir__)` to assign at the end of the package.

    Example:

    >>> from keras_adapters import training  # its __init__ ends with lazy_exports(__name__)
    >>> training.TrainConfig.__module__, "load_run" in dir(training)
    ('keras_adapters.training.config', True)
    >>> training.no_such_name
    Traceback (most recent call last):
    ...
    AttributeError: module 'keras_adapters.training' has no attribute 'no_such_name'
    """
    exports = _declared_imports(module_name)
    module = sys.modules[module_name]

    def __getattr__(name):
        if name in exports:
            source, attribute = exports[name]
            value = getattr(importlib.import_module(source), attribute)
        elif name.isidentifier() and importlib.util.find_spec(f"{module_name}.{name}"):
            # A submodule, as if the package had imported it.
            value = importlib.import_module(f"{module_name}.{name}")
        else:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        # Stored, so later look-ups skip __getattr__.
        setattr(module, name, value)
        return value

    def __dir__():
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__

