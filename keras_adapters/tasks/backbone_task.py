"""`BackboneTask`: what every task model here shares (a KerasHub `Task`)."""

import keras
import keras_hub

from keras_adapters.errors import KerasAdaptersError

#: `compile` arguments that configure the `"auto"` optimizer only.
_RECIPE_ARGUMENTS = ("learning_rate", "weight_decay", "schedule", "total_steps", "warmup_fraction")


class BackboneTaskMixin:
    """The behaviour of `BackboneTask`, for a KerasHub task class to mix in.

    A mixin rather than a base class because `PooledTextClassifier` is a
    `keras_hub.models.TextClassifier`: a second path to `keras_hub.models.Task`
    (a diamond) breaks Keras's functional-model class injection ("a
    __bases__ item causes an inheritance cycle"). List it first:
    `class MyTask(BackboneTaskMixin, keras_hub.models.Task)`.

    Args:
        backbone: a KerasHub backbone (plain or from `add_adapters`).
        outputs: a function `(inputs dict, sequence_output) -> outputs`
            building the head on the backbone's symbolic outputs.
        preprocessor: optional KerasHub preprocessor; see `BackboneTask`.
        **kwargs: passed to the KerasHub task class mixed with.

    Example:

    >>> import keras, keras_hub
    >>> from keras_adapters.tasks import BackboneTaskMixin
    >>> class Scorer(BackboneTaskMixin, keras_hub.models.TextClassifier):
    ...     def __init__(self, backbone, **kwargs):
    ...         super().__init__(backbone, lambda inputs, sequence: keras.layers.Dense(
    ...             1, name="score")(sequence[:, 0]), **kwargs)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    >>> model = Scorer(backbone)
    >>> isinstance(model, keras_hub.models.TextClassifier), type(model.optimizer).__name__
    (True, 'AdamW')
    """

    #: Constructor arguments (besides `backbone`) that `get_config` records.
    config_fields = ()
    #: Whether `compile(metrics="auto")` weights the accuracy by the
    #: `sample_weight` (as `weighted_metrics`), for tasks whose sample weights
    #: mask positions that carry no label.
    weighted_auto_metrics = False

    def __init__(self, backbone, outputs, preprocessor=None, **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in backbone.input
        }
        backbone_outputs = backbone(inputs)
        sequence = (
            backbone_outputs["sequence_output"] if isinstance(backbone_outputs, dict) else backbone_outputs
        )
        super().__init__(inputs=inputs, outputs=outputs(inputs, sequence), **kwargs)

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        metrics="auto",
        learning_rate=None,
        weight_decay=None,
        schedule=None,
        total_steps=None,
        warmup_fraction=None,
        **kwargs,
    ):
        """Configures the task for training; `"auto"` is the fine-tuning recipe.

        The defaults reproduce `keras-adapters train`: AdamW (weight decay
        0.01, none on biases and layer norms) at peak rate 1e-3, warm-up over
        10% of `total_steps` then linear decay (a constant rate when
        `total_steps` is not given), sparse cross-entropy on the logits and
        an accuracy metric named `"accuracy"`.

        Args:
            optimizer: `"auto"` (the recipe's AdamW), or anything
                `keras.Model.compile` takes.
            loss: `"auto"` (sparse categorical cross-entropy on logits), or
                anything `keras.Model.compile` takes.
            metrics: `"auto"` (accuracy named `"accuracy"`; for tasks with
                `weighted_auto_metrics`, weighted by the sample weight), or
                anything `keras.Model.compile` takes.
            learning_rate: peak learning rate of the `"auto"` optimizer
                (default 1e-3), or a `LearningRateSchedule` used as is.
            weight_decay: its decoupled weight decay (default 0.01).
            schedule: `"linear"`, `"constant"` or `"auto"` (the default:
                linear when `total_steps` is given).
            total_steps: optimizer steps of the whole training (epochs x
                batches per epoch), for the linear schedule.
            warmup_fraction: share of `total_steps` spent warming up
                (default 0.1).
            **kwargs: more `keras.Model.compile` arguments (e.g.
                `jit_compile`, `run_eagerly`).

        Raises:
            KerasAdaptersError: for recipe arguments with an optimizer other
                than `"auto"`, or invalid recipe values.

        Example:

        >>> import keras_hub
        >>> from keras_adapters.tasks import PooledTextClassifier
        >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=1,
        ...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
        >>> model = PooledTextClassifier(backbone, num_classes=2)
        >>> model.compile(learning_rate=5e-5, total_steps=300)
        >>> model.optimizer.get_config()["learning_rate"]["config"]
        {'peak_learning_rate': 5e-05, 'total_steps': 300, 'warmup_steps': 30}
        """
        # Imported here: `keras_adapters.training` builds on the tasks.
        from keras_adapters.training import recipe

        given = {
            name: value
            for name, value in zip(
                _RECIPE_ARGUMENTS, (learning_rate, weight_decay, schedule, total_steps, warmup_fraction)
            )
            if value is not None
        }
        auto_optimizer = _is_auto(optimizer)
        if auto_optimizer:
            optimizer = recipe.adamw(**given)
        elif given:
            raise KerasAdaptersError(
                f"{sorted(given)} configure the 'auto' optimizer only; got optimizer="
                f"{optimizer!r}. Configure that optimizer itself, or leave optimizer='auto'."
            )
        if _is_auto(loss):
            loss = recipe.classification_loss()
        if _is_auto(metrics):
            metrics = recipe.accuracy_metrics()
            if self.weighted_auto_metrics and kwargs.get("weighted_metrics") is None:
                kwargs["weighted_metrics"], metrics = metrics, None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        # For `get_compile_config`: AdamW's own config omits its weight-decay
        # exclusions, so a `.keras` reload rebuilds the optimizer from these.
        self._auto_optimizer_arguments = tuple(given.items()) if auto_optimizer else None

    def get_compile_config(self):
        config = super().get_compile_config()
        arguments = getattr(self, "_auto_optimizer_arguments", None)
        if config and arguments is not None:
            config["optimizer"] = "auto"
            config.update(
                {name: keras.saving.serialize_keras_object(value) for name, value in arguments}
            )
        return config

    def compile_from_config(self, config):
        # Keras's own version refuses models with their own `compile`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # Without a preprocessor, `keras.Model`'s own input handling, which
    # shuffles arrays each epoch and takes `validation_split` on arrays;
    # KerasHub's pipeline (used with a preprocessor) batches them unshuffled.
    def fit(self, x=None, *args, **kwargs):
        # A tf.data.Dataset (it has an `element_spec`), and what KerasHub's
        # preprocessing pipeline makes of arrays, brings its own order: Keras
        # ignores `shuffle` there and would only warn that its default is ignored.
        if hasattr(x, "element_spec") or self.preprocessor is not None:
            kwargs.setdefault("shuffle", False)
        if self.preprocessor is None:
            return keras.Model.fit(self, x, *args, **kwargs)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, *args, **kwargs):
        if self.preprocessor is None:
            return keras.Model.evaluate(self, *args, **kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        if self.preprocessor is None:
            return keras.Model.predict(self, *args, **kwargs)
        return super().predict(*args, **kwargs)

    def get_config(self):
        # Not `Task.get_config`: the preprocessor is recorded only when there
        # is one, so the task record of adapter files stays as it was.
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            **{field: getattr(self, field) for field in self.config_fields},
        }
        if self.preprocessor is not None:
            config["preprocessor"] = keras.layers.serialize(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Passed on, `trainable=True` reaches Functional's recursive setter,
        # which on the JAX backend unfreezes every backbone weight. It is the
        # default, so only a frozen task's `trainable=False` is passed on.
        if config.get("trainable", True):
            config.pop("trainable", None)
        return super().from_config(config)


class BackboneTask(BackboneTaskMixin, keras_hub.models.Task):
    """Base of the task models: a backbone's token inputs in, a head on its output.

    A KerasHub `Task`: with a `preprocessor`, `fit`, `evaluate` and
    `predict` take raw strings (and labels) and tokenize them, as
    KerasHub's own tasks do; without one (the default) they take the
    backbone's token dict (`token_ids`, `padding_mask`, and `segment_ids`
    where the backbone has them) and behave exactly like `keras.Model`'s
    (arrays are shuffled each epoch). `compile()` defaults to the
    fine-tuning recipe of `keras_adapters.training.recipe`; the task is
    compiled with it on construction (pass `compile=False` to skip that).

    Subclasses build their head on `sequence_output` in `__init__` (its
    layers take `dtype=backbone.dtype_policy`, so the head follows the
    backbone's mixed precision) and list their own constructor arguments in
    `config_fields`; `get_config` and `from_config` then serialize the
    backbone, the preprocessor (when there is one) and those fields, so a
    `.keras` file of the task restores the adapted backbone, its adapters,
    the head and the preprocessor.

    Args:
        backbone: a KerasHub backbone (plain or from `add_adapters`).
        outputs: a function `(inputs dict, sequence_output) -> outputs`
            building the head on the backbone's symbolic outputs.
        preprocessor: optional KerasHub preprocessor (e.g. a
            `BertTextClassifierPreprocessor`) producing the backbone's
            inputs from strings; None: inputs are token dicts.
        **kwargs: passed to `keras_hub.models.Task` (e.g. `name`,
            `compile`).

    Example:

    >>> import keras, keras_hub
    >>> from keras_adapters.tasks import BackboneTask
    >>> class MeanVector(BackboneTask):
    ...     config_fields = ()
    ...     def __init__(self, backbone, **kwargs):
    ...         super().__init__(backbone, lambda inputs, sequence: keras.ops.mean(sequence, axis=1), **kwargs)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    >>> MeanVector(backbone, compile=False).output.shape
    (None, 16)
    """


def _is_auto(value):
    return isinstance(value, str) and value == "auto"
