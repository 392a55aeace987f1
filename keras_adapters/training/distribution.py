"""Training on several devices: `TrainConfig.distribute` turned into a Keras setting.

keras-adapters uses the engines Keras already has and adds no engine of its
own:

- `"mirrored"`: `tf.distribute.MirroredStrategy` over the devices of one
  machine (every GPU; without GPUs every logical CPU device) on the
  TensorFlow backend. The model is built, compiled and trained inside
  `strategy.scope()`; each step all-reduces the gradients of the trainable
  variables only, which for adapters is a few percent of the model
  (docs/howto/many-devices.md).
- `"data-parallel"`: Keras' distribution API, `keras.distribution.DataParallel`
  over every device of one or several processes joined by
  `jax.distributed.initialize` (`data_parallel`), on the JAX backend. Every
  process runs the same command with its own `process_id` and feeds its
  share of each global batch.
- `"none"`: Keras' default, one device.

`--batch-size` is always the **global** batch: each of N replicas computes
`batch_size / N` examples per step and the gradients are summed across
replicas, so a run gives the same updates on 1 or N devices; the learning
rate is left as given (scale it yourself if you scale the batch).

The run directory is written by one process only (the training process;
process 0 of a data-parallel run, the others write nothing), under a
temporary name switched in when complete (`keras_adapters.utils.atomic`).
"""

import contextlib
import dataclasses

import keras

from keras_adapters.errors import KerasAdaptersError

__all__ = ["TrainingDistribution", "data_parallel", "mirrored_strategy", "training_distribution"]


def mirrored_strategy(devices=None, cross_device_ops=None):
    """A `tf.distribute.MirroredStrategy` over this machine's devices.

    Unlike `tf.distribute.MirroredStrategy()` with no arguments (every GPU,
    or only the first CPU), a machine without GPUs mirrors over every
    logical CPU device, so CPU devices split with
    `tf.config.set_logical_device_configuration` are used.

    Args:
        devices: device names to mirror over; default every logical GPU,
            else every logical CPU device.
        cross_device_ops: a `tf.distribute.CrossDeviceOps` for the
            all-reduce; default TensorFlow's choice (NCCL on GPUs, a
            reduction to one device on CPUs).

    Returns:
        A `tf.distribute.MirroredStrategy`.

    Raises:
        KerasAdaptersError: if the Keras backend is not TensorFlow.

    Example:

    >>> from keras_adapters.training.distribution import mirrored_strategy
    >>> strategy = mirrored_strategy()
    >>> strategy.num_replicas_in_sync >= 1
    True
    """
    if keras.backend.backend() != "tensorflow":
        raise KerasAdaptersError(
            f"`distribute='mirrored'` (tf.distribute.MirroredStrategy) needs the TensorFlow "
            f"backend; Keras runs on {keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
        )
    import tensorflow as tf

    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(list(devices), cross_device_ops=cross_device_ops)


def data_parallel(coordinator=None, num_processes=1, process_id=0):
    """Keras' `DataParallel` over every device of every process (JAX backend).

    With `num_processes > 1`, first joins the processes
    (`keras.distribution.initialize`, i.e. `jax.distributed.initialize`; on
    CPU the processes all-reduce with Gloo), then sets the distribution for
    every model built afterwards. Each process feeds its own share of the
    global batch: the returned distribution does not shard datasets itself
    (`auto_shard_dataset=False`), so give each process its slice (e.g.
    `dataset.shard(num_processes, process_id)` before batching with
    `global_batch // num_processes`).

    Args:
        coordinator: `"HOST:PORT"` of process 0, reachable by all processes
            (needed with `num_processes > 1`).
        num_processes: how many processes take part.
        process_id: this process's index, 0 to `num_processes - 1`.

    Returns:
        The `keras.distribution.DataParallel` now set.

    Raises:
        KerasAdaptersError: on a backend other than JAX, or for an
            inconsistent process setting.
    """
    if keras.backend.backend() != "jax":
        raise KerasAdaptersError(
            f"Data-parallel training over processes (keras.distribution.DataParallel) needs "
            f"the JAX backend; Keras runs on {keras.backend.backend()!r}. Set KERAS_BACKEND=jax."
        )
    if not 0 <= process_id < num_processes:
        raise KerasAdaptersError(
            f"`process_id` must be in 0..{num_processes - 1} (`num_processes` is "
            f"{num_processes}); got {process_id}."
        )
    if num_processes > 1:
        if not coordinator:
            raise KerasAdaptersError(
                "Several processes need `coordinator`: 'HOST:PORT' of process 0, reachable "
                "from every process."
            )
        import jax

        if not jax.distributed.is_initialized():
            keras.distribution.initialize(coordinator, num_processes, process_id)
        elif (jax.process_count(), jax.process_index()) != (num_processes, process_id):
            raise KerasAdaptersError(
                f"This process already joined as process {jax.process_index()} of "
                f"{jax.process_count()}; it cannot join again as {process_id} of {num_processes}."
            )
    distribution = keras.distribution.DataParallel(
        devices=keras.distribution.list_devices(), auto_shard_dataset=False
    )
    keras.distribution.set_distribution(distribution)
    return distribution


@dataclasses.dataclass
class TrainingDistribution:
    """Where a training run computes, and how its global batch is split.

    Attributes:
        mode: a `TrainConfig.distribute` value.
        strategy: the `tf.distribute.Strategy` to build and train under,
            or None (Keras' default).
        replicas: how many replicas each step is split across.
    """

    mode: str
    strategy: object = None
    replicas: int = 1
    num_processes: int = 1
    process_id: int = 0

    @property
    def is_writer(self):
        """Whether this process writes the run directory (process 0)."""
        return self.process_id == 0

    def shard(self, dataset, num_examples):
        """This process's share of an unbatched dataset, the same size in every process.

        Each process of a data-parallel run feeds its part of every global
        batch, and the parts must match in size step by step: each takes
        every `num_processes`-th example, cut to `num_examples //
        num_processes` (up to `num_processes - 1` examples are left out).

        Args:
            dataset: an unbatched `tf.data.Dataset`.
            num_examples: how many examples it holds.

        Returns:
            The dataset itself with one process, else this process's part.
        """
        if self.num_processes == 1:
            return dataset
        share = num_examples // self.num_processes
        return dataset.shard(self.num_processes, self.process_id).take(share)

    def local_batch(self, batch_size):
        """The examples this process feeds per step: `batch_size / num_processes`."""
        return batch_size // self.num_processes

    def scope(self):
        """The context to build and compile the model in.

        Returns:
            `strategy.scope()`, or a context that does nothing.
        """
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def dataset(self, dataset):
        """`dataset` made fit for `fit`/`evaluate` under the strategy.

        Under a `tf.distribute` strategy, Keras 3.15's first `fit` averages
        one batch across replicas to build the model
        (`_maybe_symbolic_build`), which fails on boolean tensors (KerasHub
        preprocessors return a boolean `padding_mask`: "Value for attr 'T'
        of bool is not in the list of allowed values"). Such tensors are
        cast to int32, which the backbones read the same way.

        Args:
            dataset: a `tf.data.Dataset` of `(features, labels)` batches.

        Returns:
            The same dataset, or one with boolean tensors cast to int32.
        """
        if self.strategy is None:
            return dataset
        import tensorflow as tf

        def cast(*batch):
            return tf.nest.map_structure(
                lambda x: tf.cast(x, tf.int32) if x.dtype == tf.bool else x, batch
            )

        return dataset.map(cast)

    def evaluation_batch_size(self, num_examples, batch_size):
        """A batch size for evaluating `num_examples` whose first batch splits evenly.

        Keras 3.15 builds the model under a strategy from the first batch
        averaged across replicas, which fails when the replicas got
        different numbers of examples ("Inputs to operation AddN ... must
        have the same size and shape"): a validation split smaller than the
        global batch must start with a batch that is a multiple of the
        replicas. The batch size does not change any metric.

        Args:
            num_examples: examples in the dataset to evaluate.
            batch_size: the run's global batch size.

        Returns:
            `batch_size`, or the largest multiple of the replicas not above
            `num_examples`.

        Example:

        >>> from keras_adapters.training.distribution import TrainingDistribution
        >>> TrainingDistribution("mirrored", replicas=2).evaluation_batch_size(5, 8)
        4
        """
        if num_examples >= batch_size or num_examples < self.replicas:
            return batch_size
        return num_examples - num_examples % self.replicas

    def describe(self, batch_size):
        """One line for the start of a run: replicas and the batch each computes.

        Args:
            batch_size: the global batch size (`TrainConfig.batch_size`).

        Returns:
            A string.

        Example:

        >>> from keras_adapters.training.distribution import TrainingDistribution
        >>> TrainingDistribution("mirrored", replicas=2).describe(32)
        'Distribution mirrored: 2 replicas; global batch 32 = 16 per replica per step (learning rate as given).'
        """
        per_replica = batch_size / self.replicas
        shown = f"{per_replica:g}" if per_replica == int(per_replica) else f"{per_replica:.2f} (uneven)"
        return (
            f"Distribution {self.mode}: {self.replicas} replica{'s' * (self.replicas != 1)}; "
            f"global batch {batch_size} = {shown} per replica per step (learning rate as given)."
        )


def training_distribution(config):
    """The `TrainingDistribution` a `TrainConfig` asks for.

    Args:
        config: a `TrainConfig` (its `distribute` and `batch_size`).

    Returns:
        A `TrainingDistribution`.

    Raises:
        KerasAdaptersError: for `mirrored` on a backend other than
            TensorFlow, `data-parallel` on one other than JAX, either
            together with `cache_frozen_prefix`, or a global batch that the
            replicas (processes) cannot share.

    Example:

    >>> from keras_adapters.training import TrainConfig
    >>> from keras_adapters.training.distribution import training_distribution
    >>> training_distribution(TrainConfig()).replicas
    1
    """
    if config.distribute == "none":
        return TrainingDistribution("none")
    if config.cache_frozen_prefix:
        # The cache runs the frozen prefix eagerly, outside any strategy.
        raise KerasAdaptersError(
            f"`cache_frozen_prefix` (--cache-frozen-prefix) trains on one device; it cannot "
            f"be combined with `distribute={config.distribute!r}`. Leave out one of them."
        )
    if config.distribute == "data-parallel":
        if config.batch_size % config.num_processes:
            raise KerasAdaptersError(
                f"`batch_size` (--batch-size) is the global batch, split across "
                f"{config.num_processes} processes; got {config.batch_size}. Choose a multiple "
                f"of {config.num_processes}."
            )
        distribution = data_parallel(config.coordinator, config.num_processes, config.process_id)
        return TrainingDistribution(
            "data-parallel", replicas=distribution.device_mesh.devices.size,
            num_processes=config.num_processes, process_id=config.process_id,
        )
    strategy = mirrored_strategy()
    replicas = strategy.num_replicas_in_sync
    if config.batch_size < replicas:
        raise KerasAdaptersError(
            f"`batch_size` (--batch-size) is the global batch, split across {replicas} "
            f"replicas; got {config.batch_size}. Choose at least {replicas} (ideally a "
            "multiple of it)."
        )
    return TrainingDistribution(config.distribute, strategy, replicas)
