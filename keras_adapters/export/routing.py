"""Task routing: rows for several tasks served in one batch.

TF Serving batches requests per signature, so with one signature per task
requests for different tasks never share a batch and the shared backbone
runs once per task. The routed signature `serving_multitask` takes a batch
whose rows belong to any tasks, in any order, and an int32 `task_id` per
row. It runs the shared backbone once over the whole batch, each row through
its own task's adapters, then each task's head on that task's rows.

How the rows are routed (all core TensorFlow ops):

1. `task_id` is checked in the graph: an id outside `0..N-1`, or a
   `task_id` whose length is not the batch size, fails the call with an
   `InvalidArgumentError` naming the valid ids (no output is returned).
2. The rows are sorted by task (a stable sort), so each task's rows form one
   contiguous segment.
3. The segment bounds are computed in the graph (`tf.math.bincount` of
   `task_id` with one count per task, zero for a task with no rows, and
   their running sum), and the backbone runs once on the sorted batch with
   `task_routing` as its active setup: a `BatchSplit` whose row blocks are
   these segments. In every adapter position (the branch slots of
   bottleneck adapters, the projections of LoRA, (IA)^3 and parallel
   adapters) the rows are sliced into the segments, each segment goes
   through its own task's setup only, and the segments are concatenated
   back. So each row runs its own task's adapters and no other's: the
   adapters cost about what one task's cost on the whole batch, whatever
   the number of tasks, plus per adapter position one slice per task and a
   concatenation (`python -m benchmarks serving` measures the total). A
   task's setup may mix adapter kinds as the composition rules allow
   (`keras_adapters.composition.COMPOSITION_RULES`), but may not split or
   repeat the batch itself (`BatchSplit`, `Parallel`).
4. Each task's head (the part of its task model after the backbone) runs on
   its segment of the backbone outputs and token inputs; its logits are
   padded on the last axis to the largest label count.
5. The rows are put back in request order.

Outputs (float32 unless noted), for `N` tasks with `C_k` classes each and
`C = max(C_k)`:

- `logits`: `(batch, C)` (token classifiers: `(batch, length, C)`); the
  columns past a row's own `C_k` hold `LOGIT_PADDING` (-1e9, a finite
  number so that strict JSON parsers accept TF Serving's REST response;
  `softmax` and `argmax` over the padded row give the task's own answer).
- `probabilities`: the softmax over the row's own `C_k` logits, padded
  with 0.0.
- `num_classes`: int32 `(batch,)`, each row's `C_k`: the number of real
  columns.

Causal LMs share one vocabulary, so their logits need no padding and no
`probabilities` output is given (as in their per-task signatures).
"""

import keras
import numpy as np

from keras_adapters.composition import AdapterSetup, BatchSplit, Parallel, parse_setup
from keras_adapters.errors import KerasAdaptersError

#: Name of the routed signature.
ROUTED_SIGNATURE = "serving_multitask"
#: Name of its per-row task input (int32, shape `(batch,)`).
TASK_ID_INPUT = "task_id"
#: Value of the padding columns of the routed `logits`.
LOGIT_PADDING = -1e9


def task_routing(setups, row_offsets):
    """The active setup that sends each row through its own task's setup.

    A routed `BatchSplit` (`BatchSplit.routed`) over the batch sorted by
    task: task `k`'s segment, rows `row_offsets[k]:row_offsets[k + 1]`,
    goes through `setups[k]` and no other setup, in every adapter slot. The
    offsets are tensors of the function being traced, so the setup is
    active only while the routed signature calls the backbone, and is never
    saved.

    Args:
        setups: one adapter setup per task id.
        row_offsets: `len(setups) + 1` scalar int tensors (or ints): where
            each task's segment starts, then the batch size. A task with
            no rows has an empty segment.

    Returns:
        The `BatchSplit` to activate.

    Example:

    >>> from keras_adapters.export.routing import task_routing
    >>> routing = task_routing(["a", "b", "c"], [0, 2, 2, 5])
    >>> routing.adapter_names(), routing.row_bounds()
    (['a', 'b', 'c'], [(0, 2), (2, 2), (2, 5)])
    """
    return BatchSplit.routed(*setups, row_offsets=row_offsets)


def _contains_row_block(setup):
    if not isinstance(setup, AdapterSetup):
        return False
    return any(
        isinstance(child, (BatchSplit, Parallel)) or _contains_row_block(child) for child in setup.children
    )


def task_head(model, backbone):
    """The part of a task model after its backbone, as a model of its own.

    Args:
        model: a functional task model that calls `backbone` once (e.g.
            `PooledTextClassifier`, `TokenClassifier`,
            KerasHub's `BertTextClassifier` or `GPT2CausalLM`).
        backbone: the backbone inside `model`.

    Returns:
        `(head, token_names)`: `head` takes a flat list, the token inputs
        named `token_names` followed by the backbone's outputs (flattened as
        `keras.tree.flatten` orders them), and returns the model's output.
        It shares the model's layers and weights.

    Raises:
        KerasAdaptersError: if `model` is not functional or does not call
            `backbone` exactly once.

    Example:

    >>> import keras, keras_hub, numpy as np
    >>> from keras_adapters.export.routing import task_head
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    >>> model = PooledTextClassifier(backbone, 3)
    >>> head, names = task_head(model, backbone)
    >>> x = {name: np.ones((2, 8), "int32") for name in names}
    >>> features = keras.tree.flatten(backbone(x))
    >>> bool(np.allclose(head([keras.ops.convert_to_tensor(x[n]) for n in names] + features),
    ...                  model(x)))
    True
    """
    inputs = getattr(model, "input", None)
    if not isinstance(inputs, dict) or not hasattr(model, "_nodes_by_depth"):
        raise KerasAdaptersError(
            f"The routed signature needs functional task models with named token inputs; "
            f"{type(model).__name__} {model.name!r} is not one."
        )
    calls = _backbone_calls(model, backbone)
    if len(calls) != 1:
        raise KerasAdaptersError(
            f"Cannot find where {type(model).__name__} {model.name!r} calls its backbone "
            f"(found {len(calls)} calls); the routed signature needs the task's head to be the "
            "part of the model after one backbone call."
        )
    token_names = list(inputs)
    head = keras.Model(
        inputs=[inputs[name] for name in token_names] + list(calls[0].outputs),
        outputs=model.output,
        name=f"{model.name}_head",
    )
    return head, token_names


def _backbone_calls(model, backbone):
    """The nodes where `model`'s graph calls `backbone`, found from its outputs back.

    A shared backbone has one node per model that calls it (and one for its
    own graph), so the nodes are found by walking this model's graph, not
    by the backbone's inputs (KerasHub tasks reuse the backbone's inputs).
    """
    calls, seen = [], set()
    pending = list(keras.tree.flatten(model.output))
    while pending:
        operation, node_index, _ = pending.pop()._keras_history
        if operation is None or (id(operation), node_index) in seen:
            continue
        seen.add((id(operation), node_index))
        node = operation._inbound_nodes[node_index]
        if operation is backbone:
            calls.append(node)
        elif not node.is_input:
            pending.extend(node.input_tensors)
    return calls


class RoutedTasks:
    """The routed forward pass over tasks that share one adapted backbone.

    Callable on a dict of token inputs plus `task_id`, eagerly (the Keras
    reference) or inside a `tf.function` (the `serving_multitask`
    signature); see the module docstring for the outputs.

    Args:
        tasks: dict task name -> `(task model, adapter setup)`; the task id
            of each is its position in the dict.
        backbone: the adapted backbone every task model calls.
        kind: `"classifier"` or `"causal_lm"`.

    Raises:
        KerasAdaptersError: for no tasks, a task model whose head cannot be
            separated from the backbone (see `task_head`), a setup that
            splits the batch itself, or task models with several outputs
            or outputs of different ranks.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.export.routing import RoutedTasks
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), "pfeiffer", name="sentiment")
    >>> backbone.add_adapter("topic", "pfeiffer")
    >>> routed = RoutedTasks({"sentiment": (PooledTextClassifier(backbone, 2), "sentiment"),
    ...                       "topic": (PooledTextClassifier(backbone, 4), "topic")}, backbone)
    >>> x = {"token_ids": np.ones((3, 8), "int32"), "segment_ids": np.zeros((3, 8), "int32"),
    ...      "padding_mask": np.ones((3, 8), "int32"), "task_id": np.array([1, 0, 1], "int32")}
    >>> outputs = routed(x)
    >>> outputs["logits"].shape, outputs["num_classes"].numpy().tolist()
    (TensorShape([3, 4]), [4, 2, 4])
    """

    def __init__(self, tasks, backbone, kind="classifier"):
        if not tasks:
            raise KerasAdaptersError("The routed signature needs at least one task.")
        self.backbone = backbone
        self.kind = kind
        self.task_names = list(tasks)
        self.setups = [parse_setup(setup) for _, setup in tasks.values()]
        for task, setup in zip(tasks, self.setups):
            if isinstance(setup, (BatchSplit, Parallel)) or _contains_row_block(setup):
                raise KerasAdaptersError(
                    f"Task {task!r}: its adapter setup {setup!r} splits or repeats the batch "
                    "itself (BatchSplit/Parallel), which cannot be combined with per-row task "
                    "routing; give each task a name, Stack, Average or Fuse setup."
                )
        nested = [name for name, (model, _) in tasks.items() if keras.tree.is_nested(model.output)]
        if nested:
            raise KerasAdaptersError(
                f"Tasks {nested} have several outputs; the routed signature serves task models "
                "with one output tensor (logits)."
            )
        shapes = {name: tuple(model.output.shape) for name, (model, _) in tasks.items()}
        if len({len(shape) for shape in shapes.values()}) != 1:
            raise KerasAdaptersError(
                f"The routed signature stacks every task's output in one tensor, so the tasks "
                f"need outputs of one rank (all sequence classifiers, or all token "
                f"classifiers); got output shapes {shapes}."
            )
        self.heads = [task_head(model, backbone) for model, _ in tasks.values()]
        self.num_classes = [shape[-1] for shape in shapes.values()]
        self.input_names = list(next(iter(tasks.values()))[0].input)

    def describe(self):
        """The routing facts recorded in the export's metadata.

        Returns:
            A JSON-compatible dict: the signature and input names, the task
            of each id with its number of classes, and the logit padding.
        """
        return {
            "signature": ROUTED_SIGNATURE,
            "task_id_input": TASK_ID_INPUT,
            "tasks": [
                {"task_id": task_id, "task": name, "num_classes": classes}
                for task_id, (name, classes) in enumerate(zip(self.task_names, self.num_classes))
            ],
            "logit_padding": LOGIT_PADDING,
        }

    def sample_inputs(self, sample_inputs, seed=0):
        """Sample inputs for the routed signature, every task in a mixed order.

        The token rows are repeated (cycling) until there are at least two
        rows per task, and every task gets rows in a shuffled order.

        Args:
            sample_inputs: dict of int32 token arrays `(rows, length)`.
            seed: seed of the shuffle.

        Returns:
            The token arrays (possibly with more rows) plus `task_id`.
        """
        rows = len(next(iter(sample_inputs.values())))
        total = max(rows, 2 * len(self.task_names))
        cycle = np.arange(total) % rows
        task_id = np.random.default_rng(seed).permutation(np.arange(total) % len(self.task_names))
        routed = {key: np.asarray(value)[cycle] for key, value in sample_inputs.items()}
        routed[TASK_ID_INPUT] = task_id.astype("int32")
        return routed

    def __call__(self, inputs):
        import tensorflow as tf  # the routed signature is a TensorFlow graph

        count = len(self.task_names)
        tokens = {key: tf.convert_to_tensor(inputs[key], tf.int32) for key in self.input_names}
        task_id = self._checked_task_id(tf.convert_to_tensor(inputs[TASK_ID_INPUT], tf.int32), tokens)
        # Stable sort: each task's rows become one contiguous segment, task
        # k's starting at offsets[k] (empty for a task with no rows).
        order = tf.argsort(task_id, stable=True)
        sizes = tf.math.bincount(task_id, minlength=count, maxlength=count, dtype=tf.int32)
        offsets = tf.unstack(tf.concat([tf.zeros((1,), tf.int32), tf.cumsum(sizes)], axis=0), num=count + 1)
        tokens = {key: tf.gather(value, order) for key, value in tokens.items()}
        previous = self.backbone.active_adapters
        # Python side effect at trace time: the graph gets per-segment routing.
        self.backbone.set_active_adapters(task_routing(self.setups, offsets))
        try:
            features = keras.tree.flatten(self.backbone(tokens, training=False))
        finally:
            self.backbone.set_active_adapters(previous)
        token_segments = {key: tf.split(value, sizes, num=count) for key, value in tokens.items()}
        feature_segments = [tf.split(value, sizes, num=count) for value in features]
        widest = max(self.num_classes)
        logits, probabilities = [], []
        for k, (head, token_names) in enumerate(self.heads):
            output = head(
                [token_segments[name][k] for name in token_names] + [segment[k] for segment in feature_segments],
                training=False,
            )
            output = tf.cast(output, tf.float32)
            padding = [[0, 0]] * (len(output.shape) - 1) + [[0, widest - self.num_classes[k]]]
            logits.append(tf.pad(output, padding, constant_values=LOGIT_PADDING))
            if self.kind != "causal_lm":
                probabilities.append(tf.pad(keras.ops.softmax(output, axis=-1), padding))
        restore = tf.math.invert_permutation(order)
        outputs = {"logits": tf.gather(tf.concat(logits, axis=0), restore)}
        if probabilities:
            outputs["probabilities"] = tf.gather(tf.concat(probabilities, axis=0), restore)
        outputs["num_classes"] = tf.gather(tf.constant(self.num_classes, tf.int32), task_id)
        return outputs

    def _checked_task_id(self, task_id, tokens):
        """`task_id` once the graph has checked it (the checks fail the call)."""
        import tensorflow as tf

        known = ", ".join(f"{k}={name}" for k, name in enumerate(self.task_names))
        batch = tf.shape(next(iter(tokens.values())))[0]
        checks = [
            tf.debugging.assert_equal(
                tf.shape(task_id), tf.reshape(batch, (1,)),
                message=f"`{TASK_ID_INPUT}` needs exactly one int32 id per row of the batch",
            ),
            tf.debugging.Assert(
                tf.reduce_all((task_id >= 0) & (task_id < len(self.task_names))),
                [f"Unknown {TASK_ID_INPUT}: this export serves ids {known}; got", task_id],
                summarize=64,
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(task_id)
