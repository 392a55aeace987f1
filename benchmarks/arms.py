"""The compared arms, and the settings shared by every arm of a comparison.

Every arm is the same classifier (`PooledTextClassifier`: mean pooling,
dropout 0.1, a dense layer) on its own copy of the same pretrained backbone,
trained with AdamW (weight decay 0.01, not on biases and norms), warm-up 10%
then linear decay, same seed, sequence length, batch size and epochs. Only
what trains, and the peak learning rate, differ:

- `full`: every weight trains; 5e-5, the usual BERT fine-tuning rate
  (1e-3 would wreck the pretrained weights).
- `lora`: KerasHub's `backbone.enable_lora(8)`: rank-8 LoRA on the query and
  value projections, everything else frozen (layer norms too); 1e-3. Keras
  factors the per-head kernels (d, heads, head_dim) as (d, heads, 8) x
  (8, head_dim) and leaves those layers' biases trainable, so it trains
  more than the textbook 2 x d x 8 per projection (450,048 on MiniLM).
- `probe`: frozen backbone, the head alone trains; 1e-3.
- `houlsby`: keras-adapters' "houlsby" preset (bottleneck 64, both branches,
  layer norms trained); 1e-3 (the main job's default).
- `pfeiffer`: keras-adapters' "pfeiffer" preset (feed-forward branch only,
  bottleneck hidden/16, layer norms frozen); 1e-3.
- `houlsby_top`: the "houlsby" preset in the top half of the blocks only
  (`layers="top:K"`, K = half the blocks: blocks 3-5 of MiniLM-L6's six),
  those blocks' layer norms trained; nothing below block K trains, so the
  backward pass stops there (AdapterDrop's idea); 1e-3.
- `houlsby_top_cached`: the same adapters trained through the frozen-prefix
  cache (`keras_adapters.training.cache_frozen_prefix`): the prefix runs
  without dropout (`disable_prefix_dropout`, which the cache requires), its
  output is computed once, and every later epoch trains the upper blocks
  alone on the cached states; 1e-3.
- `lora_ka`: keras-adapters' "lora" preset as a named adapter: rank 8 on
  the query and value projections, alpha = rank, in the factor layout of
  KerasHub's `enable_lora` but without training those projections' biases
  (so 2 x 6 x 384 = 4,608 fewer parameters than `lora` on MiniLM); 1e-3,
  as `lora`. Mergeable into the projections for serving.
- `ia3`: keras-adapters' "ia3" preset: (IA)^3 rescaling vectors on keys,
  values and the feed-forward activation (Liu et al. 2022); 3e-3, the
  rate Liu et al. train (IA)^3 with in T-Few (there with Adafactor), above
  the other adapters' 1e-3. Mergeable.
- `parallel`: keras-adapters' "parallel" preset: He et al. 2022's scaled
  parallel adapter on the feed-forward sublayer (s=4, bottleneck d/2,
  zero-initialised up-projection); 1e-3, the adapters' rate.

Full fine-tuning, LoRA and the recommended adapter setting (`SEEDED_ARMS`)
are trained with `Settings.seeds` seeds, the others with one.
"""

import dataclasses

import keras

from benchmarks.equal_time import RestartedWarmupLinearDecay
from keras_adapters import add_adapters
from keras_adapters.pretrained import load_backbone
from keras_adapters.surgery.layer_count import num_adaptable_blocks
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import cache_frozen_prefix, disable_prefix_dropout

ARM_NAMES = (
    "full", "lora", "probe", "houlsby", "pfeiffer", "houlsby_top", "houlsby_top_cached",
    "lora_ka", "ia3", "parallel",
)

ARM_LABELS = {
    "full": "Full fine-tuning",
    "lora": "KerasHub LoRA (rank 8)",
    "probe": "Linear probe (frozen backbone)",
    "houlsby": "keras-adapters Houlsby (b=64)",
    "pfeiffer": "keras-adapters Pfeiffer (b=d/16)",
    "houlsby_top": "keras-adapters Houlsby, top half of the blocks",
    "houlsby_top_cached": "keras-adapters Houlsby, top half + frozen-prefix cache",
    "lora_ka": "keras-adapters LoRA (rank 8, query/value)",
    "ia3": "keras-adapters (IA)^3",
    "parallel": "keras-adapters parallel adapter (s=4, b=d/2)",
}

LEARNING_RATES = {
    "full": 5e-5, "lora": 1e-3, "probe": 1e-3, "houlsby": 1e-3, "pfeiffer": 1e-3,
    "houlsby_top": 1e-3, "houlsby_top_cached": 1e-3, "lora_ka": 1e-3, "ia3": 3e-3, "parallel": 1e-3,
}

#: The arms of issue 15's methods: keras-adapters' preset of the same name
#: (`AdapterConfig.from_preset`), added as a named adapter.
METHOD_PRESETS = {"lora_ka": "lora", "ia3": "ia3", "parallel": "parallel"}

#: The adapter arms (keras-adapters' own), in table order.
ADAPTER_ARMS = ("houlsby", "pfeiffer", "houlsby_top", "houlsby_top_cached", *METHOD_PRESETS)

#: Arms whose adapter is linear (LoRA, (IA)^3): served merged into the
#: projections (`merge_adapter`), whose latency is measured besides.
MERGEABLE_ARMS = ("lora_ka", "ia3")

#: The adapter setting recommended by the results so far (issue 14: the best
#: accuracy within full fine-tuning's training time; the parallel adapter led
#: the one-seed pieces); it gets the seeds that full fine-tuning and LoRA
#: get. The report names the setting the results actually favour.
RECOMMENDED_ARM = "parallel"

#: Arms trained with `Settings.seeds` seeds (mean +- standard deviation).
SEEDED_ARMS = ("full", "lora", RECOMMENDED_ARM)

#: Arms with the "houlsby" preset in the top half of the blocks only.
TOP_HALF_ARMS = ("houlsby_top", "houlsby_top_cached")

#: Arms trained through the frozen-prefix cache.
CACHED_ARMS = ("houlsby_top_cached",)

LORA_RANK = 8

# The quick run's random BERT: MiniLM's vocabulary size, tiny otherwise.
QUICK_BACKBONE = dict(
    vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=32,
    intermediate_dim=64, max_sequence_length=512,
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a benchmark run measures on, full or quick.

    The full run is the main job's setting: the real all-MiniLM-L6-v2 and
    the Rotten Tomatoes split (9,752 / 1,000 / 2,000), sequence length 48,
    batch 32, 2 epochs, seed 0. The quick run is the same pipeline on a
    small random-initialised BERT (MiniLM's real vocabulary and tokenizer)
    and a slice of the same data, so the benchmark code is exercised in the
    tests in a few minutes.

    `seeds` is how many seeds the arms of `SEEDED_ARMS` are trained with
    (`seed`, `seed + 1`, ...); 1 in the quick run unless asked. The quick
    run trains and times the arms eagerly (`run_eagerly`): on a tiny model
    tracing would cost more than everything else, and its numbers only show
    that the code runs. Scaling and profile trace in both modes.
    """

    quick: bool = False
    preset: str = "minilm_l6"
    dataset: str = "rotten_tomatoes"
    train_examples: int | None = None
    test_examples: int | None = None
    sequence_length: int = 48
    batch_size: int = 32
    epochs: int = 2
    seed: int = 0
    seeds: int = 3
    run_eagerly: bool = False
    # XLA for every arm (the main job's default too): on the 2-core CPU it
    # made every arm's step 1.35-1.45x faster (benchmarks/results/backends.json).
    jit_compile: bool = True
    timing_rounds: int = 5
    timing_calls: int = 6
    latency_calls_batch_1: int = 20
    latency_calls_batch_32: int = 4
    memory_steps: int = 10
    scaling_sequence_lengths: tuple = (64, 128, 256)
    scaling_bottlenecks: tuple = (8, 16, 32, 64, 128, 256)
    scaling_batch_size: int = 32
    scaling_reference_bottleneck: int = 64
    scaling_rounds: int = 2
    scaling_calls: int = 2
    # Blocks of the scaling sweeps' backbone; None: the benchmark backbone's.
    # The quick run sweeps a 1-block model: XLA compiles it in less time.
    scaling_num_layers: int | None = None

    @classmethod
    def get(cls, quick, seeds=None):
        """The full or quick settings; `seeds` overrides the seed count."""
        overrides = {} if seeds is None else {"seeds": seeds}
        if not quick:
            return cls(**overrides)
        return cls(**{
            **dict(
                quick=True,
                preset="tiny-random",
                train_examples=64,
                test_examples=64,
                sequence_length=32,
                batch_size=16,
                epochs=1,
                seeds=1,
                run_eagerly=True,
                jit_compile=False,
                timing_rounds=1,
                timing_calls=2,
                latency_calls_batch_1=2,
                latency_calls_batch_32=1,
                memory_steps=2,
                # One shape: the sequence and bottleneck sweeps share their
                # traced (and XLA-compiled) functions.
                scaling_sequence_lengths=(16,),
                scaling_bottlenecks=(4,),
                scaling_batch_size=8,
                scaling_reference_bottleneck=4,
                scaling_rounds=1,
                scaling_calls=1,
                scaling_num_layers=1,
            ),
            **overrides,
        })

    def seeds_of(self, arm):
        """The training seeds of `arm`: `seeds` of them for `SEEDED_ARMS`, else one."""
        count = self.seeds if arm in SEEDED_ARMS else 1
        return tuple(range(self.seed, self.seed + count))

    @property
    def backbone_description(self):
        if self.quick:
            return f"random-initialised BERT, {QUICK_BACKBONE['num_layers']} layers x 32 (MiniLM's vocabulary)"
        return "all-MiniLM-L6-v2 (pretrained, 6 layers x 384, 22.7M parameters)"

    @property
    def scaling_backbone_description(self):
        if self.scaling_num_layers is None:
            return self.backbone_description
        return f"random-initialised BERT, {self.scaling_num_layers} layer(s) x 32 (MiniLM's vocabulary)"


def load_base_backbone(settings, num_layers=None):
    """A fresh copy of the benchmark's backbone (the same weights every call).

    Args:
        settings: the run's `Settings`.
        num_layers: the quick run's random backbone with this many blocks
            instead (`Settings.scaling_num_layers`); None: the benchmark's.

    Returns:
        A KerasHub `BertBackbone`.
    """
    if not settings.quick:
        if num_layers is not None:
            raise ValueError("Only the quick run's random backbone can have its depth changed.")
        return load_backbone(settings.preset)
    import keras_hub

    keras.utils.set_random_seed(settings.seed)
    return keras_hub.models.BertBackbone(**{**QUICK_BACKBONE, "num_layers": num_layers or QUICK_BACKBONE["num_layers"]})


def backbone_dims(settings):
    """`hidden_dim`, `intermediate_dim`, `num_layers` of the benchmark backbone.

    Read from the preset's config file (the full run) or the quick
    backbone's constructor arguments, without building a model.
    """
    if settings.quick:
        return {key: QUICK_BACKBONE[key] for key in ("hidden_dim", "intermediate_dim", "num_layers")}
    import json
    import os

    from keras_adapters.pretrained import resolve_preset

    with open(os.path.join(resolve_preset(settings.preset), "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return {
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["intermediate_size"],
        "num_layers": config["num_hidden_layers"],
    }


def build_arm(arm, backbone, num_classes, bottleneck_size=None):
    """The classifier of one arm on `backbone` (which the arm may modify).

    Args:
        arm: one of `ARM_NAMES`.
        backbone: a plain KerasHub backbone with pretrained weights.
        num_classes: classes of the task.
        bottleneck_size: overrides the adapter presets' bottleneck.

    Returns:
        `(classifier, backbone inside it)`.
    """
    overrides = {} if bottleneck_size is None else {"bottleneck_size": bottleneck_size}
    if arm == "full":
        backbone.trainable = True
    elif arm == "lora":
        backbone.enable_lora(LORA_RANK)
    elif arm == "probe":
        backbone.trainable = False
    elif arm in ("houlsby", "pfeiffer"):
        backbone = add_adapters(backbone, arm, **overrides)
    elif arm in TOP_HALF_ARMS:
        backbone = add_adapters(backbone, "houlsby", layers=top_half(backbone), **overrides)
    elif arm in METHOD_PRESETS:
        backbone = add_adapters(backbone, METHOD_PRESETS[arm], name=arm, **overrides)
    else:
        raise ValueError(f"Unknown arm {arm!r}; choose from {ARM_NAMES}.")
    model = PooledTextClassifier(backbone, num_classes, pooling="mean", dropout=0.1)
    if arm in CACHED_ARMS:
        disable_prefix_dropout(model)
    return model, backbone


def train_options(arm, num_blocks):
    """The `keras-adapters train` settings (`TrainConfig` fields) that train like an adapter arm.

    The data, backbone, recipe and its schedule are the main job's already;
    what differs per arm is the adapter, where it goes, the cache and the
    peak learning rate.

    Args:
        arm: one of `ADAPTER_ARMS`.
        num_blocks: the backbone's transformer blocks (the top-half arms
            adapt the upper half).

    Returns:
        A dict of `TrainConfig` field values.

    Example:

    >>> from benchmarks.arms import train_options
    >>> train_options("houlsby_top_cached", 6)
    {'adapter': 'houlsby', 'layers': 'top:3', 'cache_frozen_prefix': True, 'learning_rate': 0.001}
    """
    if arm not in ADAPTER_ARMS:
        raise ValueError(f"Arm {arm!r} is not an adapter arm; adapter arms: {ADAPTER_ARMS}.")
    top = arm in TOP_HALF_ARMS
    return {
        "adapter": "houlsby" if top else METHOD_PRESETS.get(arm, arm),
        "layers": top_half_of(num_blocks) if top else None,
        "cache_frozen_prefix": arm in CACHED_ARMS,
        "learning_rate": LEARNING_RATES[arm],
    }


def merge_for_serving(arm, backbone):
    """Folds a `MERGEABLE_ARMS` arm's adapter into its projections (`merge_adapter`).

    Call it before the model's first `predict`: the merged model is then
    traced as served, one plain projection where the adapter was.

    Raises:
        ValueError: for an arm that is not in `MERGEABLE_ARMS`.
    """
    if arm not in MERGEABLE_ARMS:
        raise ValueError(f"Arm {arm!r} is not mergeable; mergeable arms: {MERGEABLE_ARMS}.")
    backbone.merge_adapter(arm)


def measured_arms(record):
    """The arms of `ARM_NAMES` present in a results dict's `arms` (older runs lack the newer arms)."""
    return tuple(arm for arm in ARM_NAMES if arm in record["arms"])


def top_half(backbone):
    """The layer selection of the top-half arms: `"top:K"`, K half the blocks."""
    return top_half_of(num_adaptable_blocks(backbone))


def top_half_of(num_blocks):
    """`"top:K"`, K half of `num_blocks` (at least 1)."""
    return f"top:{max(1, num_blocks // 2)}"


def training_model(arm, model, seed):
    """What the arm's `fit` is called on.

    Args:
        arm: one of `ARM_NAMES`.
        model: the arm's compiled classifier.
        seed: the shuffling seed of the cache.

    Returns:
        `model` itself, or for `CACHED_ARMS` its `FrozenPrefixCache`
        (`cache_frozen_prefix`), which shuffles the examples itself: give it
        the data in order.
    """
    if arm in CACHED_ARMS:
        return cache_frozen_prefix(model, seed=seed)
    return model


def cached_step_functions(cache, features, labels):
    """Timed calls of a cached arm on one batch of task features.

    Args:
        cache: the arm's `FrozenPrefixCache` (`training_model`).
        features, labels: one batch, as arrays.

    Returns:
        `(step, prefix_pass)`: zero-argument callables; `step` trains on the
        batch's cached prefix states (what every epoch runs), `prefix_pass`
        computes those states (what filling the cache runs, once per batch).
    """
    split = cache.split
    prefix_inputs = split.prefix_features(features)
    states = split.prefix.predict_on_batch(prefix_inputs)
    inputs = {**states, **{name: features[name] for name in split.feature_names}}
    return (
        lambda: cache.train_on_batch(inputs, labels),
        lambda: split.prefix.predict_on_batch(prefix_inputs),
    )


def compile_arm(model, arm, total_steps, jit_compile=False, extra_steps=0, run_eagerly=False):
    """Compiles the arm's classifier with the shared recipe at the arm's rate.

    The tasks' `compile()` defaults (`keras_adapters.training.recipe`):
    AdamW, weight decay 0.01 (not on biases and norms), warm-up over 10% of
    the steps, then linear decay. With `extra_steps`, the schedule restarts
    for that many steps after `total_steps`
    (`benchmarks.equal_time.RestartedWarmupLinearDecay`).
    """
    total_steps = max(total_steps, 1)
    if extra_steps:
        schedule = {"learning_rate": RestartedWarmupLinearDecay(LEARNING_RATES[arm], total_steps, extra_steps)}
    else:
        schedule = {"learning_rate": LEARNING_RATES[arm], "total_steps": total_steps}
    model.compile(**schedule, jit_compile=jit_compile, run_eagerly=run_eagerly)
