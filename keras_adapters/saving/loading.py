"""Loading a saved adapter into a model that holds the same adapter: `load_adapters`.

Every tensor is checked against the model before any is assigned, so a
mismatching file leaves the model untouched.
"""

import os

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving.adapter_files import (
    backbone_signature,
    find_adapted_backbone,
    head_index,
    tensor_map,
)
from keras_adapters.saving.verification import read_adapter_file, read_adapter_weights

__all__ = ["load_adapters"]


def load_adapters(model, path, name=None, include_head=None):
    """Loads a saved adapter into a model that has the same adapter.

    The model must already hold the adapter: build it with
    `add_adapters(backbone, config=path)` (the saved config) first. Every
    tensor is checked before any is assigned: a file for another backbone,
    another adapter config or another head fails with the full list of
    mismatches and leaves the model untouched.

    Args:
        model: an adapted backbone, or a model containing one.
        path: a directory written by `save_adapters`.
        name: adapter in `model` to load into; default: the saved name.
        include_head: load the head too. Default: exactly when the file has
            one. `True` with a file or model without head is an error, as is
            a file with a head loaded into a bare backbone.

    Returns:
        The adapter name loaded into.

    Raises:
        KerasAdaptersError: on any mismatch between the file and the model,
            or if the files fail verification (`read_adapter_weights`).

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters import add_adapters, load_adapters, save_adapters
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> trained = add_adapters(base, bottleneck_size=4)
    >>> path = save_adapters(trained, tempfile.mkdtemp() + "/task")
    >>> fresh = add_adapters(base, config=path)
    >>> load_adapters(fresh, path)
    'default'
    """
    document = read_adapter_file(path)
    backbone, is_backbone = find_adapted_backbone(model)
    # Merged copies would keep the old weights: refuse rather than serve them.
    backbone._refuse_while_merged("load_adapters")
    name = name or document["adapter_name"]
    if include_head is None:
        include_head = document["has_head"]
    problems = []
    if name not in backbone.adapter_names:
        raise KerasAdaptersError(
            f"The model has no adapter named {name!r} (it has "
            f"{list(backbone.adapter_names)}). Create it first with "
            f"add_adapters(backbone, config={os.fspath(path)!r}, name={name!r})."
        )
    expected_signature = backbone_signature(backbone)
    for field, saved in document["backbone"].items():
        if expected_signature.get(field) != saved:
            problems.append(
                f"backbone {field}: file has {saved!r}, model has "
                f"{expected_signature.get(field)!r}"
                + (" (the adapter was trained on another base backbone)"
                   if field == "frozen_weights_sha256" else "")
            )
    saved_config = document["adapter_config"]
    model_config = backbone.get_adapter_config(name)
    for field, saved in saved_config.to_dict().items():
        current = model_config.to_dict()[field]
        if current != saved:
            problems.append(f"adapter config {field}: file has {saved!r}, model has {current!r}")
    if include_head and not document["has_head"]:
        problems.append("include_head=True but the file holds no head weights")
    if include_head and is_backbone:
        problems.append(
            "the file holds a task head but the model is a bare backbone "
            "(pass include_head=False to load the adapter alone)"
        )
    if problems:
        raise KerasAdaptersError(_mismatch_message(path, problems))

    _, _, _, targets = tensor_map(model, name, include_head)
    arrays = read_adapter_weights(path, document)
    if not include_head:
        arrays = {k: a for k, a in arrays.items() if not k.startswith("head/")}
    missing = [k for k in targets if k not in arrays]
    unexpected = [k for k in arrays if k not in targets]
    if include_head:
        # Head keys carry an index and a path: the index decides, the path may
        # differ between sessions (auto-generated layer names).
        targets, missing, unexpected = _match_head_by_index(targets, arrays, missing, unexpected)
    problems += [f"missing tensor {k}" for k in missing]
    problems += [f"unexpected tensor {k}" for k in unexpected]
    for key, variable in targets.items():
        if key in arrays and tuple(arrays[key].shape) != tuple(variable.shape):
            problems.append(
                f"tensor {key}: file shape {tuple(arrays[key].shape)}, model "
                f"shape {tuple(variable.shape)}"
            )
    if problems:
        raise KerasAdaptersError(_mismatch_message(path, problems))
    for key, variable in targets.items():
        variable.assign(arrays[key].astype(variable.dtype))
    return name


def _match_head_by_index(targets, arrays, missing, unexpected):
    file_heads = {head_index(k): k for k in arrays if k.startswith("head/")}
    remapped = {}
    for key, variable in targets.items():
        if key.startswith("head/") and head_index(key) in file_heads:
            remapped[file_heads[head_index(key)]] = variable
        else:
            remapped[key] = variable
    missing = [k for k in remapped if k not in arrays]
    unexpected = [k for k in arrays if k not in remapped]
    return remapped, missing, unexpected


def _mismatch_message(path, problems):
    shown = problems[:20]
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (
        f"Cannot load adapter {os.fspath(path)!r} into this model; nothing was "
        "loaded. Mismatches:\n  " + "\n  ".join(shown) + more
    )
