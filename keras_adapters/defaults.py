"""Defaults and choices of the settings, in a module that imports nothing.

The settings dataclasses (`TrainConfig`, `TuneConfig`) and with them the
command's `--help` read these values; the modules that use them (the recipe,
the schedules, the classifier's pooling, the pretrained presets, the
hypermodel) import Keras, so the values are defined here and re-exported
there under the same names.
"""

#: Peak learning rate (adapters train well at rates far above full
#: fine-tuning's 2e-5..5e-5). Also `keras_adapters.training.recipe.LEARNING_RATE`.
LEARNING_RATE = 1e-3
#: AdamW's decoupled weight decay. Also `keras_adapters.training.recipe.WEIGHT_DECAY`.
WEIGHT_DECAY = 0.01
#: Share of the training steps spent warming up. Also
#: `keras_adapters.training.recipe.WARMUP_FRACTION`.
WARMUP_FRACTION = 0.1
#: Learning-rate schedules `learning_rate_schedule` builds by name. Also
#: `keras_adapters.training.schedules.SCHEDULES`.
SCHEDULES = ("linear", "constant")
#: How `PooledTextClassifier` pools the token sequence. Also
#: `keras_adapters.tasks.text_classifier.POOLINGS`.
POOLINGS = ("mean", "cls")
#: The preset trained by default: the pretrained all-MiniLM-L6-v2 alias.
#: Also `keras_adapters.pretrained.DEFAULT_PRESET`.
DEFAULT_PRESET = "minilm_l6"
#: Bottleneck sizes tried by default: Houlsby et al.'s {8, 64, 256} and the
#: powers of two between them. Also
#: `keras_adapters.tuning.hypermodel.DEFAULT_BOTTLENECK_SIZES`.
DEFAULT_BOTTLENECK_SIZES = (8, 16, 32, 64, 128, 256)
