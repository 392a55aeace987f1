"""Every public function and class documents its arguments and has an example.

The examples themselves run as doctests (`--doctest-modules`); this checks
that they exist. Result records (dataclasses with `Attributes:`) and
exception classes are exempt from `Args:` and `Example`.
"""

import dataclasses
import importlib
import inspect

import pytest

MODULES = [
    "keras_adapters",
    "keras_adapters.composition",
    "keras_adapters.saving",
    "keras_adapters.tasks",
    "keras_adapters.data.ner",
    "keras_adapters.data.ner_encoding",
    "keras_adapters.export",
    "keras_adapters.pretrained",
    "keras_adapters.data",
    "keras_adapters.training",
    "keras_adapters.training.config",
    "keras_adapters.training.trainer",
    "keras_adapters.training.output_dir",
    "keras_adapters.training.run_directory",
    "keras_adapters.training.loaded_run",
    "keras_adapters.training.pipeline",
    "keras_adapters.tuning",
    "keras_adapters.tuning.text_classification",
    "keras_adapters.assets",
    "keras_adapters.layers",
    "keras_adapters.config",
    "keras_adapters.layer_selection",
    "keras_adapters.utils.json_files",
    "keras_adapters.training.recipe",
    "keras_adapters.training.compilation",
    "keras_adapters.data.list_splits",
    "keras_adapters.errors",
    "keras_adapters.utils.sizes",
    "keras_adapters.surgery.layer_count",
    "keras_adapters.tuning.checkpoints",
    "keras_adapters.tuning.config",
    "keras_adapters.utils.settings",
    "keras_adapters.utils.lazy_exports",
    "keras_adapters.cli.config_options",
    "keras_adapters.data.file_formats",
]


def public_objects():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        is_package = hasattr(module, "__path__")
        # `__all__`, where a module has one, is its public API (helpers shared
        # with sibling modules are not).
        listed = getattr(module, "__all__", None)
        # dir() and getattr(): a package's lazily imported names (PEP 562) included.
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if listed is not None and name not in listed:
                continue
            defined_in = getattr(obj, "__module__", "")
            # A package's public names include what it re-exports; a module's
            # are what it defines (its imports are checked where they live).
            if not (defined_in.startswith("keras_adapters") if is_package else defined_in == module_name):
                continue
            if inspect.isclass(obj) and (issubclass(obj, Exception) or dataclasses.is_dataclass(obj)
                                         and "Attributes:" in (inspect.getdoc(obj) or "")):
                continue
            yield f"{module_name}.{name}", obj


@pytest.mark.parametrize("name,obj", list(public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_api_is_documented(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "Example" in doc and ">>>" in doc, f"{name}: no runnable Example"
    own = obj if inspect.isfunction(obj) else vars(obj).get("__init__")
    parameters = [p for p in inspect.signature(own).parameters if p != "self"] if own else []
    if parameters:
        assert "Args:" in doc, f"{name}: no Args section"
    if inspect.isfunction(obj):
        assert "Returns:" in doc, f"{name}: no Returns section"
