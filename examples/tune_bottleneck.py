"""Pick the adapter bottleneck per task with keras-tuner, as Houlsby et al. did.

Houlsby et al. (2019) chose the bottleneck per task from {8, 64, 256}. This
does the same on the real pretrained all-MiniLM-L6-v2 and Rotten Tomatoes
(fresh/rotten), with a stock `keras_tuner.RandomSearch`:

1. Load the pretrained backbone ONCE; `AdapterHyperModel` gives every trial a
   fresh adapted copy of it (the kept backbone is never modified).
2. `tuner.search(...)` exactly as keras-tuner documents it. Each trial's
   checkpoint holds only the adapters, layer norms and head.
3. Print validation accuracy against trainable parameters per bottleneck, the
   disk used per trial against one full-model checkpoint, and the best
   model's test accuracy (from `tuner.get_best_models()`).

Run:  .venv/bin/python examples/tune_bottleneck.py           (about 4 minutes on 2 CPU cores)
      .venv/bin/python examples/tune_bottleneck.py --smoke   (tiny sizes; what the tests run)
"""

import argparse
import functools
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from keras_adapters import save_adapters  # noqa: E402
from keras_adapters.data import load_dataset  # noqa: E402
from keras_adapters.pretrained import load_backbone, load_preprocessor  # noqa: E402
from keras_adapters.training import classification_metrics  # noqa: E402
from keras_adapters.training.schedules import learning_rate_schedule  # noqa: E402
from keras_adapters.training import tokenized  # noqa: E402
from keras_adapters.tuning import AdapterHyperModel, default_compile  # noqa: E402
from keras_adapters.tuning.results import collect_trial_results, write_results  # noqa: E402
from keras_adapters.utils.sizes import directory_bytes  # noqa: E402

FULL = dict(train=2000, validation=500, test=1000, sequence_length=32, epochs=1,
            bottlenecks=[8, 64, 256], eager=False)
# Eager: tracing MiniLM's training step takes about 20 s per trial here, far
# longer than training the smoke run's two batches.
SMOKE = dict(train=48, validation=32, test=32, sequence_length=16, epochs=1, bottlenecks=[8, 64],
             eager=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--output-dir", default=None,
                        help="where the search goes (default: a temporary directory)")
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="tune-bottleneck-")
    keras.utils.set_random_seed(0)

    backbone = load_backbone("minilm_l6")  # read from disk once for the whole search
    preprocessor = load_preprocessor("minilm_l6", sizes["sequence_length"])
    data = load_dataset("rotten_tomatoes", max_examples=sizes["train"])
    train = tokenized(data.train, preprocessor, 32, shuffle_seed=0)
    validation = tokenized(data.validation.take(sizes["validation"]), preprocessor, 64)
    steps = sizes["epochs"] * -(-data.num_examples["train"] // 32)

    hypermodel = AdapterHyperModel(
        backbone,
        num_classes=len(data.label_names),
        bottleneck_sizes=sizes["bottlenecks"],
        learning_rate=1e-3,
        learning_rate_schedule=functools.partial(learning_rate_schedule, total_steps=steps),
        compile_task=functools.partial(default_compile, run_eagerly=sizes["eager"]),
        seed=0,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=len(sizes["bottlenecks"]),
        seed=0,
        directory=output_dir,
        project_name="bottleneck",
        overwrite=True,
    )
    tuner.search(train, validation_data=validation, epochs=sizes["epochs"], verbose=2)

    rows = collect_trial_results(tuner, hypermodel)
    write_results(rows, output_dir, "val_accuracy")
    best = tuner.get_best_models(1)[0]
    full_checkpoint = os.path.join(output_dir, "full.weights.h5")
    type(best).save_weights(best, full_checkpoint)  # Keras' own: every weight, for comparison
    full_bytes = os.path.getsize(full_checkpoint)
    os.remove(full_checkpoint)

    print(f"\n{'bottleneck':>10} {'trainable':>10} {'share':>7} {'val acc':>8} {'fit s':>7} "
          f"{'trial dir':>10} {'vs full':>8}")
    for row in sorted(rows, key=lambda r: r.bottleneck_size):
        print(f"{row.bottleneck_size:>10} {row.trainable_parameters:>10,} "
              f"{100 * row.trainable_share:>6.2f}% {100 * row.objective:>7.2f}% "
              f"{row.fit_seconds:>7.1f} {row.trial_dir_bytes / 1e6:>7.2f} MB "
              f"{100 * row.trial_dir_bytes / full_bytes:>7.2f}%")
    print(f"full-model checkpoint (Keras save_weights): {full_bytes / 1e6:.1f} MB; whole search "
          f"directory: {directory_bytes(os.path.join(output_dir, 'bottleneck')) / 1e6:.2f} MB")

    labels, logits = [], []
    for features, batch_labels in tokenized(data.test.take(sizes["test"]), preprocessor, 64):
        logits.append(best.predict_on_batch(features))
        labels.append(np.asarray(batch_labels))
    metrics = classification_metrics(np.concatenate(labels), np.concatenate(logits), data.label_names)
    best_hp = tuner.get_best_hyperparameters(1)[0].values
    print(f"best bottleneck {best_hp['bottleneck_size']}: test accuracy "
          f"{100 * metrics['accuracy']:.2f}% on {metrics['num_examples']:,} snippets")
    path = save_adapters(best, os.path.join(output_dir, "best_adapter"), overwrite=True)
    print(f"best adapter + head saved to {path} ({directory_bytes(path) / 1e6:.2f} MB); "
          f"results in {output_dir}/results.json, .csv, .png")
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
