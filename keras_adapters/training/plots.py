"""The training-curve figure of a run directory (`training_curve.png`)."""

import numpy as np

from keras_adapters.utils.atomic import atomic_file

__all__ = ["plot_training_curves"]


def plot_training_curves(path, log):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if log.steps:
        steps, losses = zip(*log.steps)
        left.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8)
        smoothed, value = [], losses[0]
        for loss in losses:
            value = 0.95 * value + 0.05 * loss
            smoothed.append(value)
        left.plot(steps, smoothed, color="tab:blue", label="training loss (per step, smoothed)")
    steps_per_epoch = len(log.step_seconds) / max(len(log.epochs), 1)
    epoch_steps = [record["epoch"] * steps_per_epoch for record in log.epochs]
    left.plot(epoch_steps, [r.get("val_loss", np.nan) for r in log.epochs], "o-",
              color="tab:orange", label="validation loss")
    left.set_xlabel("training step")
    left.set_ylabel("loss")
    left.legend()
    epochs = [r["epoch"] for r in log.epochs]
    right.plot(epochs, [r.get("accuracy", np.nan) for r in log.epochs], "o-", label="training")
    right.plot(epochs, [r.get("val_accuracy", np.nan) for r in log.epochs], "o-", label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_xticks(epochs)
    right.legend()
    fig.suptitle("keras-adapters training run")
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
