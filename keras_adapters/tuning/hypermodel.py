"""`AdapterHyperModel`: a keras-tuner search space over adapter settings."""

import time

import keras
import keras_tuner

from keras_adapters import pretrained
# Defined without Keras, for the settings and `--help`.
from keras_adapters.defaults import DEFAULT_BOTTLENECK_SIZES
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import prefix_cache, recipe
from keras_adapters.training.frozen_prefix import disable_prefix_dropout
from keras_adapters.tuning.budget import FIT_SECONDS, OWN_BUDGET, TRAINABLE_PARAMETERS, ParameterBudget
from keras_adapters.tuning.checkpoints import use_task_weight_checkpoints
from keras_adapters.tuning.search_space import AdapterSearchSpace
from keras_adapters.utils.parameters import count_parameters


def default_compile(model, learning_rate, weight_decay=recipe.WEIGHT_DECAY, **compile_kwargs):
    """Compiles a classifier with the fine-tuning recipe of `keras-adapters train`.

    `keras_adapters.training.recipe`: AdamW without weight decay on biases
    and layer-norm parameters, cross-entropy on logits, and an accuracy
    metric named `"accuracy"`, so the validation objective is
    `"val_accuracy"`. Works on any classifier model returning logits.

    Args:
        model: the model to compile.
        learning_rate: float or `LearningRateSchedule` (see
            `AdapterHyperModel`'s `learning_rate_schedule`).
        weight_decay: AdamW's decoupled weight decay.
        **compile_kwargs: more `model.compile` arguments (e.g.
            `run_eagerly=True`, `jit_compile=False`).

    Returns:
        None; `model` is compiled in place.

    Example:

    >>> import keras
    >>> from keras_adapters.tuning import default_compile
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> default_compile(model, 1e-3)
    >>> type(model.optimizer).__name__, float(model.optimizer.weight_decay)
    ('AdamW', 0.01)
    """
    model.compile(**recipe.compile_arguments(learning_rate, weight_decay), **compile_kwargs)


class AdapterHyperModel(AdapterSearchSpace, ParameterBudget, keras_tuner.HyperModel):
    """Search space over adapter settings for a pretrained backbone.

    Each trial clones the pristine pretrained backbone with
    `keras_adapters.add_adapters` (the kept backbone itself is never
    modified or trained), puts the task head on it, compiles it and returns
    it. Hyperparameters (keras-tuner names):

    - `adapter`: `hp.Choice` over `adapter_presets` (the method, placement
      and layer-norm training), when given: e.g. `["pfeiffer", "parallel",
      "lora", "ia3"]`.
    - `bottleneck_size`: `hp.Choice` over `bottleneck_sizes`, for the
      bottleneck and parallel adapters only: with `adapter_presets`, it is
      declared in a keras-tuner conditional scope on `adapter`, so LoRA and
      (IA)^3 trials have none (and are not repeated per size).
    - `rank`: `hp.Choice` over `ranks`, when given, for LoRA only
      (conditional on `adapter` likewise).
    - `learning_rate`: `hp.Choice` over `learning_rates`, when given.
    - `layers`: `hp.Choice` over `layers` selections, when given.

    The backbone is read from disk (for a preset) once, at the first build,
    and kept for the whole search; keras-tuner's per-trial
    `keras.backend.clear_session()` does not affect it.

    Checkpoints: every built model's `save_weights`/`load_weights` write and
    read its adapter, trained layer norms and head only, in the
    `save_adapters` format (see `use_task_weight_checkpoints`), strictly
    checked, so the stock tuners' per-trial checkpoints are a few percent of
    a full one and `tuner.get_best_models()` rebuilds working models from
    them.

    Parameter budget: keras-tuner's `max_model_size` (trainable parameters)
    works as usual; `max_trainable_parameters` here does the same, failing
    over-budget trials with `keras_tuner.errors.FailedTrialError` before they
    train, and recording them in `over_budget`. Either way the trial is
    marked FAILED; note that the oracle stops the search after
    `max_consecutive_failed_trials` (default 3) failures in a row.

    `fit` adds two entries to each trial's metrics: `trainable_parameters`
    and `fit_seconds` (wall time of `model.fit`).

    Memory: `build` creates the optimizer's variables eagerly (created
    while tracing, each would leave TensorFlow a graph it never frees) and
    the hypermodel keeps no reference to any trial's model. TensorFlow still
    keeps one traced training-step graph per model it trained (also for
    plain Keras models), a few MB per trial on small models.

    With keras-tuner, exactly as its documentation shows:

    ```python
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=6, directory="search")
    tuner.search(train_data, validation_data=validation_data, epochs=2)
    best_model = tuner.get_best_models(1)[0]
    ```

    Args:
        backbone: a KerasHub backbone (with its pretrained weights), or a
            preset accepted by `keras_adapters.pretrained.load_backbone`
            (`"minilm_l6"`, a local preset or Hugging Face folder, ...).
        build_task: callable `(adapted_backbone, hp) -> keras.Model`
            building the task model on the adapted backbone (e.g. a KerasHub
            task with `preprocessor=None`). Alternatively pass `num_classes`
            for a `PooledTextClassifier` (mean pooling, dropout 0.1).
        num_classes: int, for the default head.
        bottleneck_sizes: bottleneck sizes to choose from.
        adapter: the adapter config the choices modify: an `AdapterConfig`,
            preset name, dict or JSON path.
        adapter_presets: optional list of adapter preset names (e.g.
            `["houlsby", "lora", "ia3"]`) to choose from instead of `adapter`.
        ranks: optional list of LoRA ranks to choose from (default: the
            LoRA preset's rank); needs a LoRA adapter among the methods.
        layers: optional list of layer selections to choose from: `"all"`,
            `"top:K"`, `"bottom:K"`, a list of block indices or `"3,4,5"`
            (as `AdapterConfig.layers` takes them; see
            `keras_adapters.config.parse_layers`). Each trial's config
            records the block indices the selection resolved to.
        learning_rates: optional list of peak learning rates to choose from.
        learning_rate: the peak learning rate when `learning_rates` is None.
        learning_rate_schedule: optional callable `peak -> schedule` (a
            `keras.optimizers.schedules.LearningRateSchedule` or float).
        compile_task: callable `(model, learning_rate)` compiling the model;
            default `default_compile` (e.g. pass
            `functools.partial(default_compile, run_eagerly=True)`).
        max_trainable_parameters: optional trainable-parameter budget.
        seed: optional int; when set, every build reseeds Keras, so trials
            with the same settings start from the same adapter and head
            initialisation.
        cache_frozen_prefix: train each trial through
            `keras_adapters.training.cache_frozen_prefix`: `build` turns off
            the frozen prefix's dropout (`disable_prefix_dropout`), `fit`
            trains on the prefix's outputs, computed once and reused by
            every trial with the same prefix and data (pass the training
            data unshuffled; the cache shuffles it each epoch). Raises
            `KerasAdaptersError` in `build` when a trial's model has no
            frozen prefix (adapters or trained layer norms in block 0).
        prefix_cache_dir: directory for frozen-prefix caches too large for
            memory; None: memory only.
        adapter_name: name of the adapter in each model.
        name, tunable: as for `keras_tuner.HyperModel`.

    Raises:
        ValueError: for invalid choices.
        TypeError: if `backbone` is neither a model nor a preset.

    Example:

    >>> import keras_hub, keras_tuner
    >>> from keras_adapters import count_parameters
    >>> from keras_adapters.tuning import AdapterHyperModel
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> hypermodel = AdapterHyperModel(backbone, num_classes=2, bottleneck_sizes=[4, 8])
    >>> hp = keras_tuner.HyperParameters()
    >>> hp.values["bottleneck_size"] = 8
    >>> model = hypermodel.build(hp)
    >>> model.backbone.get_adapter_config("default").bottleneck_size
    8
    >>> count_parameters(model).trainable  # 4 x (2 x 16 x 8 + 8 + 16) + 5 x 32 + 34
    1314
    """

    def __init__(
        self,
        backbone,
        build_task=None,
        *,
        num_classes=None,
        bottleneck_sizes=DEFAULT_BOTTLENECK_SIZES,
        adapter="houlsby",
        adapter_presets=None,
        ranks=None,
        layers=None,
        learning_rates=None,
        learning_rate=1e-3,
        learning_rate_schedule=None,
        compile_task=None,
        max_trainable_parameters=None,
        seed=None,
        cache_frozen_prefix=False,
        prefix_cache_dir=None,
        adapter_name="default",
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        if (build_task is None) == (num_classes is None):
            raise KerasAdaptersError(
                "Pass exactly one of `build_task` (a callable (backbone, hp) -> model) "
                "and `num_classes` (for the default PooledTextClassifier head)."
            )
        if build_task is not None and not callable(build_task):
            raise KerasAdaptersError(f"`build_task` must be callable; got {type(build_task).__name__}.")
        self._set_search_space(
            bottleneck_sizes=bottleneck_sizes,
            adapter=adapter,
            adapter_presets=adapter_presets,
            ranks=ranks,
            layers=layers,
            learning_rates=learning_rates,
            learning_rate=learning_rate,
        )
        if max_trainable_parameters is not None and not max_trainable_parameters > 0:
            raise KerasAdaptersError(
                f"`max_trainable_parameters` must be positive; got {max_trainable_parameters!r}."
            )
        self.num_classes = num_classes
        self.build_task = build_task
        self.learning_rate_schedule = learning_rate_schedule
        self.compile_task = compile_task or default_compile
        self.max_trainable_parameters = max_trainable_parameters
        self.seed = seed
        self.cache_frozen_prefix = cache_frozen_prefix
        self.prefix_cache_dir = prefix_cache_dir
        self.adapter_name = adapter_name
        is_preset = isinstance(backbone, str) or hasattr(backbone, "__fspath__")
        if not is_preset and not isinstance(backbone, keras.Model):
            raise TypeError(
                "`backbone` must be a KerasHub backbone or a preset (name or folder); got "
                f"{type(backbone).__name__}."
            )
        self._source = backbone
        self._backbone = None if is_preset else self._check_bottleneck_sizes(backbone)
        #: How many times the backbone was read from disk (0 or 1).
        self.backbone_loads = 0
        #: `values_key(hp.values)` -> `(trainable, total)` parameters of every
        #: model built, including trials that fail before training. Plain
        #: ints: no reference to any trial's model is kept.
        self.parameter_counts = {}
        #: `values_key(hp.values)` -> the budget (`OWN_BUDGET`) a trial's
        #: model exceeded, so it was not trained. keras-tuner's own
        #: `max_model_size` check happens outside the hypermodel; see
        #: `budget_exceeded`.
        self.over_budget = {}

    @property
    def backbone(self):
        """The pristine pretrained backbone, loaded at first use and kept."""
        if self._backbone is None:
            self._backbone = self._check_bottleneck_sizes(pretrained.load_backbone(self._source))
            self.backbone_loads += 1
        return self._backbone

    def build(self, hp):
        """Builds and compiles the trial's model on a fresh adapted clone.

        Returns:
            The compiled task model; its `save_weights`/`load_weights`
            handle task weights only.
        """
        config = self.adapter_config(hp)
        peak = self.trial_learning_rate(hp)
        backbone = self.backbone
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        adapted = add_adapters(backbone, config, name=self.adapter_name)
        if self.build_task is None:
            model = PooledTextClassifier(adapted, self.num_classes)
        else:
            model = self.build_task(adapted, hp)
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"`build_task` must return a keras.Model; got {type(model).__name__}."
            )
        if not any(w is adapted.weights[0] for w in model.weights):
            raise KerasAdaptersError(
                "The model from `build_task` does not use the adapted backbone it was "
                "given; build the task on that backbone."
            )
        schedule = self.learning_rate_schedule(peak) if self.learning_rate_schedule else peak
        self.compile_task(model, schedule)
        if self.cache_frozen_prefix:
            disable_prefix_dropout(model)  # what the cache requires; refuses without a prefix
        if model.optimizer is not None and not model.optimizer.built:
            # Create the optimizer's slot variables now, eagerly. Left to
            # `fit`, Keras creates them while tracing, and every slot variable
            # leaves TensorFlow a `tf.cond` graph it never frees: measured
            # here as about 20 MB more resident memory per trial on a
            # 2-layer, 128-wide BERT.
            model.optimizer.build(model.trainable_variables)
        counts = count_parameters(model)
        self.parameter_counts[self.values_key(hp.values)] = (counts.trainable, counts.total)
        return use_task_weight_checkpoints(model, name=self.adapter_name)

    def fit(self, hp, model, *args, **kwargs):
        """Trains the trial's model; over-budget models fail without training.

        Returns:
            The `History`, with `trainable_parameters` and `fit_seconds`
            added per epoch (keras-tuner records them with the trial).

        Raises:
            keras_tuner.errors.FailedTrialError: if the model has more
                trainable parameters than `max_trainable_parameters`.
        """
        trainable = count_parameters(model).trainable
        budget = self.max_trainable_parameters
        if budget is not None and trainable > budget:
            self.over_budget[self.values_key(hp.values)] = OWN_BUDGET
            raise keras_tuner.errors.FailedTrialError(
                f"Over the parameter budget: {trainable:,} trainable parameters > "
                f"max_trainable_parameters={budget:,}. Not trained."
            )
        started = time.perf_counter()
        trainer = model
        if self.cache_frozen_prefix:
            trainer = prefix_cache.cache_frozen_prefix(
                model, cache_dir=self.prefix_cache_dir, seed=self.seed
            )
        history = trainer.fit(*args, **kwargs)
        seconds = time.perf_counter() - started
        epochs = len(history.epoch)
        history.history[TRAINABLE_PARAMETERS] = [float(trainable)] * epochs
        history.history[FIT_SECONDS] = [seconds] * epochs
        return history
