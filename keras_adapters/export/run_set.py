"""A run set: several `train` runs on one base backbone, served as one model.

Each run directory holds one task (an adapter and its head) trained on the
same preset. `load_run_set` verifies every run (`load_run`), then rebuilds
all tasks on one shared adapted backbone, each adapter named after its task;
`export_run_set` writes them as one SavedModel with a signature per task and
the routed `serving_multitask` signature.
"""

import dataclasses
import os
import re

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export.saved_model import export_multitask_saved_model

__all__ = ["RunSet", "export_run_set", "load_run_set", "task_name_for"]


@dataclasses.dataclass
class RunSet:
    """Tasks of several runs rebuilt on one shared backbone.

    Attributes:
        tasks: task name -> task model (a `PooledTextClassifier`), all on
            `backbone`, each with the adapter named after its task.
        backbone: the shared adapted backbone.
        preprocessor: the first run's preprocessor (every run uses the same
            preset, so the same tokenizer).
        label_names: task name -> the run's class names.
        run_dirs: task name -> the run directory (absolute).
        sequence_length: the first run's sequence length.
    """

    tasks: dict
    backbone: keras.Model
    preprocessor: object
    label_names: dict
    run_dirs: dict
    sequence_length: int


def task_name_for(run_dir):
    """The default task name of a run: its directory name as a signature name.

    Args:
        run_dir: a run directory path.

    Returns:
        The directory's base name with characters other than letters,
        digits and `_` replaced by `_` (and `run_` in front of a name that
        would not start with a letter).

    Example:

    >>> from keras_adapters.export.run_set import task_name_for
    >>> task_name_for("runs/sentiment-v2/")
    'sentiment_v2'
    >>> task_name_for("runs/20news")
    'run_20news'
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", os.path.basename(os.path.normpath(os.fspath(run_dir))))
    if not re.match(r"[A-Za-z]", name):
        name = f"run_{name}"
    return name


def load_run_set(run_dirs, task_names=None):
    """Rebuilds the tasks of several runs on one shared backbone.

    Every run is verified as `load_run` does (files, digests, that its base
    backbone is the preset's). The runs must share the preset and the base
    backbone's weights, be single-text classifiers, and not train the
    backbone's layer norms (shared by every task; the `pfeiffer` preset, or
    any adapter with `train_layer_norms` false).

    Args:
        run_dirs: run directories written by `keras-adapters train` (or
            `write_run_directory`), at least one.
        task_names: one task name per run (default: `task_name_for` each
            directory).

    Returns:
        A `RunSet`.

    Raises:
        KerasAdaptersError: for no runs, task names that are not one per run
            or repeat, runs on different presets or backbones, sentence-pair
            runs, or adapters that train layer norms (with more than one run);
            `RunError` for a run that fails `load_run`.

    Example (`tests/test_routed_serving.py` builds run sets; names are
    checked before any run is read):

    >>> from keras_adapters.export.run_set import load_run_set
    >>> load_run_set(["runs/sentiment", "runs/topic"], task_names=["sentiment"])
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Give one task name per run: 1 names (['sentiment']) for 2 runs.
    """
    from keras_adapters.pretrained import load_backbone
    from keras_adapters.saving import load_adapters, read_adapter_file
    from keras_adapters.surgery.add_adapters import add_adapters
    from keras_adapters.tasks import PooledTextClassifier
    from keras_adapters.training import load_run
    from keras_adapters.training.run_directory import ADAPTER_DIR

    run_dirs = [os.path.abspath(os.fspath(run_dir)) for run_dir in run_dirs]
    if not run_dirs:
        raise KerasAdaptersError("Give at least one run directory.")
    names = list(task_names) if task_names else [task_name_for(run_dir) for run_dir in run_dirs]
    if len(names) != len(run_dirs):
        raise KerasAdaptersError(
            f"Give one task name per run: {len(names)} names ({names}) for {len(run_dirs)} runs."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise KerasAdaptersError(
            f"Task names repeat: {repeated}. Name each run's task (--task NAME, once per run)."
        )
    if len(run_dirs) > 1:
        # Read before any backbone is loaded: refused in milliseconds.
        for run_dir in run_dirs:
            adapter_dir = os.path.join(run_dir, ADAPTER_DIR)
            if os.path.isdir(adapter_dir) and read_adapter_file(adapter_dir)["adapter_config"].train_layer_norms:
                raise KerasAdaptersError(
                    f"Run {run_dir} trained the backbone's layer norms with its adapter, so it "
                    "cannot share a backbone with other tasks (each would need its own layer "
                    "norms). Train tasks to serve together with layer norms frozen (--adapter "
                    "pfeiffer, or an adapter config with train_layer_norms false)."
                )
    runs = [load_run(run_dir) for run_dir in run_dirs]
    first = runs[0]
    for run_dir, run in zip(run_dirs, runs):
        if run.info.get("text_pair"):
            raise KerasAdaptersError(f"Run {run_dir} classifies sentence pairs; serving those is not supported yet.")
        if run.info["config"]["preset"] != first.info["config"]["preset"] or (
            run.info["backbone_fingerprint"] != first.info["backbone_fingerprint"]
        ):
            raise KerasAdaptersError(
                f"Run {run_dir} was trained on another base backbone (preset "
                f"{run.info['config']['preset']!r}) than {run_dirs[0]} (preset "
                f"{first.info['config']['preset']!r}); tasks served together share one backbone."
            )
    # One more copy of the base backbone (the one `load_run` verified): each
    # task's adapter is added to it under the task's name, then loaded from
    # the run's verified files.
    base = load_backbone(first.info["config"]["preset"])
    backbone = None
    tasks = {}
    for name, run_dir, run in zip(names, run_dirs, runs):
        adapted = run.model.backbone
        config = adapted.get_adapter_config(adapted.adapter_names[0])
        if backbone is None:
            backbone = add_adapters(base, config, name=name)
        else:
            backbone.add_adapter(name, config)
        model = PooledTextClassifier(
            backbone,
            len(run.label_names),
            pooling=run.info["config"]["pooling"],
            dropout=run.info["config"]["head_dropout"],
            name=f"{name}_classifier",
        )
        load_adapters(model, os.path.join(run_dir, ADAPTER_DIR), name=name)
        tasks[name] = model
    backbone.set_trainable_adapters(None)
    return RunSet(
        tasks=tasks,
        backbone=backbone,
        preprocessor=first.preprocessor,
        label_names={name: run.label_names for name, run in zip(names, runs)},
        run_dirs=dict(zip(names, run_dirs)),
        sequence_length=first.info["config"]["sequence_length"],
    )


def export_run_set(run_dirs, base_path, name, version=None, *, task_names=None, sample_texts=None, overwrite=False):
    """Exports several runs as one SavedModel, routed signature included.

    One signature per task (named after it, `serving_default` the first),
    plus `serving_multitask`, which takes rows of every task in one batch
    with a `task_id` per row (ids in the order of `run_dirs`; see
    `keras_adapters.export.routing`). The metadata records each task's
    label names and run directory.

    Args:
        run_dirs: the run directories (see `load_run_set`).
        base_path, name, version, overwrite: as in `export_saved_model`.
        task_names: one task name per run (default: from the directory
            names, `task_name_for`).
        sample_texts: texts tokenized as the recorded sample inputs
            (default: two short sentences).

    Returns:
        `(ExportedModel, RunSet)`.

    Raises:
        KerasAdaptersError: as `load_run_set` and
            `export_multitask_saved_model`.

    Example (`load_run_set` builds a run set; exporting it is one call,
    `keras-adapters export RUN_DIR RUN_DIR ...` on the command line). A
    directory that holds no run is refused before anything is written:

    >>> import tempfile
    >>> from keras_adapters.export.run_set import export_run_set
    >>> export_run_set([tempfile.mkdtemp()], tempfile.mkdtemp(), "tasks")
    Traceback (most recent call last):
    ...
    keras_adapters.training.output_dir.RunError: ... is not a keras-adapters run directory (no run.json). Pass the --output-dir of a `keras-adapters train` run.
    """
    from keras_adapters.export.client import tokenize_for_serving

    run_set = load_run_set(run_dirs, task_names)
    texts = sample_texts or ["a short example sentence.", "another, somewhat longer example sentence here."]
    exported = export_multitask_saved_model(
        run_set.tasks,
        base_path,
        name,
        version,
        routed_signature=True,
        sample_inputs=tokenize_for_serving(run_set.preprocessor, texts),
        overwrite=overwrite,
        metadata={
            "label_names": run_set.label_names,
            "run_dirs": run_set.run_dirs,
            "sequence_length": run_set.sequence_length,
        },
    )
    return exported, run_set
