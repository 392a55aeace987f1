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
"""

import dataclasses

import keras

from keras_adapters import add_adapters
from keras_adapters.pretrained import load_backbone
from keras_adapters.tasks import PooledTextClassifier

ARM_NAMES = ("full", "lora", "probe", "houlsby", "pfeiffer")

ARM_LABELS = {
    "full": "Full fine-tuning",
    "lora": "KerasHub LoRA (rank 8)",
    "probe": "Linear probe (frozen backbone)",
    "houlsby": "keras-adapters Houlsby (b=64)",
    "pfeiffer": "keras-adapters Pfeiffer (b=d/16)",
}

LEARNING_RATES = {"full": 5e-5, "lora": 1e-3, "probe": 1e-3, "houlsby": 1e-3, "pfeiffer": 1e-3}

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
    timing_rounds: int = 5
    timing_calls: int = 6
    latency_calls_batch_1: int = 20
    latency_calls_batch_32: int = 4
    memory_steps: int = 10
    scaling_sequence_lengths: tuple = (64, 128, 256)
    scaling_bottlenecks: tuple = (8, 16, 32, 64, 128, 256)
    scaling_batch_size: int = 32
    scaling_reference_bottleneck: int = 64
    scaling_rounds: int = 3
    scaling_calls: int = 2

    @classmethod
    def get(cls, quick):
        if not quick:
            return cls()
        return cls(
            quick=True,
            preset="tiny-random",
            train_examples=192,
            test_examples=128,
            sequence_length=32,
            batch_size=16,
            epochs=1,
            timing_rounds=2,
            timing_calls=2,
            latency_calls_batch_1=3,
            latency_calls_batch_32=2,
            memory_steps=2,
            scaling_sequence_lengths=(16, 32),
            scaling_bottlenecks=(4, 16),
            scaling_batch_size=8,
            scaling_reference_bottleneck=4,
            scaling_rounds=1,
            scaling_calls=1,
        )

    @property
    def backbone_description(self):
        if self.quick:
            return "random-initialised BERT, 2 layers x 32 (MiniLM's vocabulary)"
        return "all-MiniLM-L6-v2 (pretrained, 6 layers x 384, 22.7M parameters)"


def load_base_backbone(settings):
    """A fresh copy of the benchmark's backbone (the same weights every call)."""
    if not settings.quick:
        return load_backbone(settings.preset)
    import keras_hub

    keras.utils.set_random_seed(settings.seed)
    return keras_hub.models.BertBackbone(**QUICK_BACKBONE)


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
    else:
        raise ValueError(f"Unknown arm {arm!r}; choose from {ARM_NAMES}.")
    return PooledTextClassifier(backbone, num_classes, pooling="mean", dropout=0.1), backbone


def compile_arm(model, arm, total_steps, jit_compile=False):
    """Compiles the arm's classifier with the shared recipe at the arm's rate.

    The tasks' `compile()` defaults (`keras_adapters.training.recipe`):
    AdamW, weight decay 0.01 (not on biases and norms), warm-up over 10% of
    the steps, then linear decay.
    """
    model.compile(
        learning_rate=LEARNING_RATES[arm], total_steps=max(total_steps, 1), jit_compile=jit_compile
    )
