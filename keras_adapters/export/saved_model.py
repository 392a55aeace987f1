"""Export adapted models as TF-Serving-ready SavedModels.

Layout written (the one TF Serving polls):

    BASE/NAME/VERSION/saved_model.pb
    BASE/NAME/VERSION/variables/...
    BASE/NAME/VERSION/assets.extra/keras_adapters_export.json
    BASE/NAME/VERSION/assets.extra/sample_inputs.npz, sample_outputs.npz

`VERSION` is an integer. The version directory is built under a hidden name
in `BASE/NAME/` (TF Serving only loads directories named by an integer) and
switched into place when complete, so a server polling `BASE/NAME` never sees
a half-written version, even if the export is interrupted or killed. With
`overwrite`, an existing version is swapped for the new one in one step
(`keras_adapters.utils.atomic.atomic_directory`): at every instant
`BASE/NAME/VERSION` is the complete old export or the complete new one.

Signatures (tag `serve`):

- `serving_default`: token inputs, int32, shape `(batch, length)`, named
  `token_ids`, `padding_mask` (1 for tokens, 0 for padding) and, for
  BERT-style backbones, `segment_ids`. Outputs: a classifier gives `logits`
  and `probabilities` (float32, `(batch, num_classes)`); a causal LM gives
  `logits` (float32, `(batch, length, vocabulary)`). Tokenization stays
  outside the graph, so only core TensorFlow ops are used.
- `serving_text` (opt-in, `text_signature=True`): `text`, a string tensor of
  shape `(batch,)`, tokenized inside the graph by the KerasHub preprocessor;
  same outputs. It needs a server whose bundled tensorflow-text has every op
  used: the op list is in the metadata file (`ops_outside_core`).
"""

import re

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export.routing import ROUTED_SIGNATURE, RoutedTasks
from keras_adapters.export.token_inputs import is_causal_lm
from keras_adapters.export.version_directory import write_version

__all__ = ["export_multitask_saved_model", "export_saved_model"]


def export_saved_model(
    model,
    base_path,
    name,
    version=None,
    *,
    preprocessor=None,
    text_signature=False,
    sample_inputs=None,
    overwrite=False,
    metadata=None,
    merge=False,
):
    """Writes `model` as a SavedModel version that TF Serving can load.

    Args:
        model: a classifier over an (adapted) backbone with token inputs
            (e.g. `PooledTextClassifier`, `BertTextClassifier` with
            `preprocessor=None`) or a KerasHub `CausalLM` (e.g. `GPT2CausalLM`).
        base_path: the server's model base path.
        name: the model name: the export goes to `base_path/name/VERSION`.
        version: positive int; default: one more than the highest existing.
        preprocessor: the KerasHub preprocessor for the text signature.
        text_signature: also add `serving_text` (raw strings in; needs
            tensorflow-text ops in the server).
        sample_inputs: dict of int32 arrays to record with the Keras outputs,
            for `check_export`; default: random tokens.
        overwrite: replace an existing version directory.
        metadata: extra JSON-serializable metadata (e.g. label names).
        merge: fold the one active LoRA or (IA)^3 adapter into the
            projections for the export (`merge_adapter`), so the served
            graph runs plain projections, as fast as the base model; the
            model is unmerged afterwards.

    Returns:
        An `ExportedModel`.

    Raises:
        ValueError: for an invalid name or version, an unsupported model, or
            `text_signature=True` without a preprocessor.
        FileExistsError: if the version exists and `overwrite` is False.
        KerasAdaptersError: if `base_path` cannot be written, or on a Keras
            backend other than TensorFlow (`keras_adapters.backend_support`).

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.export import check_export, export_saved_model
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), bottleneck_size=4), 2)
    >>> exported = export_saved_model(model, tempfile.mkdtemp(), "sentiment")
    >>> exported.path.endswith("sentiment/1")
    True
    >>> check_export(exported.path).passed  # TensorFlow's C++ loader, no TF Python
    True
    """
    if text_signature and preprocessor is None:
        raise KerasAdaptersError("`text_signature=True` needs the `preprocessor` to put in the graph.")
    if merge:
        from keras_adapters.saving.adapter_files import find_adapted_backbone
        from keras_adapters.surgery.merging import merged_for_serving

        with merged_for_serving(find_adapted_backbone(model)[0]):
            return export_saved_model(
                model, base_path, name, version, preprocessor=preprocessor,
                text_signature=text_signature, sample_inputs=sample_inputs,
                overwrite=overwrite, metadata=metadata,
            )
    return write_version(
        {"serving_default": (model, None)},
        base_path,
        name,
        version,
        text_preprocessor=preprocessor if text_signature else None,
        sample_inputs=sample_inputs,
        overwrite=overwrite,
        metadata=metadata,
    )


def export_multitask_saved_model(
    tasks,
    base_path,
    name,
    version=None,
    *,
    adapters=None,
    routed_signature=False,
    sample_inputs=None,
    overwrite=False,
    metadata=None,
):
    """Writes several tasks sharing one backbone as one SavedModel.

    Each task gets its own signature (named after it); `serving_default` is
    the first task. The task models must call the same adapted backbone
    object (e.g. from `keras_adapters.load_task` on one backbone), so its
    variables are stored once: the export is about the backbone plus the
    adapters and heads, not one backbone per task. Each signature runs its
    task's adapter setup, baked in when the signature is traced.

    With `routed_signature=True` the export also has `serving_multitask`
    (`keras_adapters.export.routing`): the token inputs plus an int32
    `task_id` per row (task ids follow the order of `tasks`), rows of any
    tasks in any order in one batch. It runs the backbone once over the
    whole batch, each row through its own task's adapters and head, and
    returns `logits` padded to the largest label count (padding
    `LOGIT_PADDING`, -1e9), `probabilities` (padded with 0) and each row's
    `num_classes`. An unknown id fails the call. The ids and task names are
    in the metadata (`metadata["serving_multitask"]`, printed by
    `keras-adapters check-export`), and the recorded sample has rows of
    every task, so `check_export` runs it with TensorFlow's C++ loader.

    Args:
        tasks: dict of task name -> task model (signature names: letters,
            digits, `_`).
        base_path, name, version, sample_inputs, overwrite, metadata: as in
            `export_saved_model`.
        adapters: dict task name -> adapter setup (a name or composition
            block) to activate for that task; default: the task's name.
        routed_signature: also write `serving_multitask`.

    Returns:
        An `ExportedModel`.

    Raises:
        ValueError: if the tasks do not share one adapted backbone, a task's
            adapter is unknown, or a task name is not a valid signature name;
            with `routed_signature`, also for a task model whose head cannot
            be separated from the backbone call or a task setup with
            `BatchSplit`/`Parallel`; on a Keras backend other than TensorFlow.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.export import export_multitask_saved_model, read_export_metadata
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), "pfeiffer", name="sentiment")
    >>> backbone.add_adapter("topic", "pfeiffer")
    >>> tasks = {"sentiment": PooledTextClassifier(backbone, 2, name="s"),
    ...          "topic": PooledTextClassifier(backbone, 4, name="t")}
    >>> exported = export_multitask_saved_model(tasks, tempfile.mkdtemp(), "both",
    ...                                         routed_signature=True)
    >>> sorted(exported.signatures)
    ['sentiment', 'serving_default', 'serving_multitask', 'topic']
    >>> sorted(exported.signatures["serving_multitask"]["inputs"])
    ['padding_mask', 'segment_ids', 'task_id', 'token_ids']
    >>> [(t["task_id"], t["task"]) for t in read_export_metadata(exported.path)["metadata"]["serving_multitask"]["tasks"]]
    [(0, 'sentiment'), (1, 'topic')]
    """
    from keras_adapters.saving.adapter_files import find_adapted_backbone

    if not tasks:
        raise KerasAdaptersError("`tasks` is empty: give at least one task model.")
    backbones = {id(find_adapted_backbone(model)[0]) for model in tasks.values()}
    if len(backbones) != 1:
        raise KerasAdaptersError(
            "The task models do not share one backbone object; build them on the same "
            "adapted backbone (keras_adapters.load_task(backbone, path) for each task)."
        )
    adapters = dict(adapters or {})
    endpoints = {}
    for task, model in tasks.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", task) or task.startswith("serving_"):
            raise KerasAdaptersError(
                f"Invalid task name {task!r}: signature names use letters, digits and '_', "
                "start with a letter, and 'serving_' is reserved."
            )
        endpoints[task] = (model, adapters.get(task, task))
    first = next(iter(endpoints))
    endpoints = {"serving_default": endpoints[first], **endpoints}
    backbone = find_adapted_backbone(next(iter(tasks.values())))[0]
    previous = backbone.active_adapters
    for _, setup in endpoints.values():
        backbone.set_active_adapters(setup)  # validates names and fusions
    backbone.set_active_adapters(previous)
    metadata = {"tasks": list(tasks), **(metadata or {})}
    routing = None
    if routed_signature:
        kind = "causal_lm" if is_causal_lm(next(iter(tasks.values()))) else "classifier"
        routing = RoutedTasks({task: endpoints[task] for task in tasks}, backbone, kind=kind)
        metadata[ROUTED_SIGNATURE] = routing.describe()
    try:
        return write_version(
            endpoints,
            base_path,
            name,
            version,
            sample_inputs=sample_inputs,
            overwrite=overwrite,
            metadata=metadata,
            routing=routing,
        )
    finally:
        # Each signature set its task's setup while traced: leave the one
        # the caller had.
        backbone.set_active_adapters(previous)
