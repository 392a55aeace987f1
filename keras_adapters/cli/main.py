"""The `keras-adapters` command line (also `python -m keras_adapters`).

This module imports only click, rich and the standard library: TensorFlow is
imported (quietly, see `keras_adapters.cli.startup`) at the start of each
command's body, so `--help` and option errors answer without loading it.
Everything printed goes through consoles that never interpret markup or
emoji codes, because texts, labels, paths and error messages come from the
user; styling is applied with `rich.text.Text`.
"""

import errno
import functools
import os
import shlex
import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keras_adapters.cli.startup import set_default_environment, start_tensorflow
from keras_adapters.errors import KerasAdaptersError

set_default_environment()

# markup=False, emoji=False: "[/oops]" or ":smile:" in user text prints as is.
console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
error_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

# OS errors a user causes with a path (missing, read-only, full disk, ...):
# printed as one line. Any other exception is a bug and keeps its traceback.
USER_OS_ERRORS = (
    FileExistsError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
USER_OS_ERRNOS = {
    getattr(errno, name)
    for name in ("EROFS", "ENOSPC", "EDQUOT", "ENAMETOOLONG", "ELOOP")
    if hasattr(errno, name)
}


def _styled(label, style, message):
    return Text.assemble((label, style), " ", message)


def _fail(message):
    error_console.print(_styled("Error:", "bold red", str(message)))
    sys.exit(EXIT_ERROR)


def _interrupted(message=None):
    if message is None:
        error_console.print(Text("Interrupted.", style="bold yellow"))
    else:
        error_console.print(_styled("Interrupted:", "bold yellow", message))
    sys.exit(EXIT_INTERRUPTED)


def _describe_os_error(error):
    """'<reason>: <path>' for an OSError, without the '[Errno N]' prefix."""
    reason = error.strerror or type(error).__name__
    paths = [repr(os.fspath(p)) for p in (error.filename, error.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else str(error)


def _guarded(command):
    """Runs a command body, printing the errors a user can cause in one line.

    `KerasAdaptersError` (bad input the library recognised) and OS errors
    about a path the user gave become "Error: ..." and exit status 1; Ctrl-C
    exits with 130. Anything else is a bug: it propagates with its traceback.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()
        except KerasAdaptersError as e:
            _fail(e)
        except OSError as e:
            if isinstance(e, USER_OS_ERRORS) or e.errno in USER_OS_ERRNOS:
                _fail(_describe_os_error(e))
            raise

    return run


def _start():
    """Imports TensorFlow for a command, quietly unless `--verbose` was given."""
    context = click.get_current_context()
    start_tensorflow(verbose=bool(context.find_root().params.get("verbose")))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="keras-adapters")
@click.option("--verbose", "-v", is_flag=True,
              help="Show TensorFlow's start-up and C++ log lines and Python warnings from "
                   "TensorFlow/Keras, hidden by default. Give it before the command: "
                   "keras-adapters --verbose train ...")
def main(verbose):
    """Parameter-efficient fine-tuning of KerasHub models with bottleneck adapters.

    Start with `keras-adapters train` (defaults: the pretrained all-MiniLM-L6-v2
    and the Rotten Tomatoes sentiment data, both installed by `make setup`),
    then `predict` and `evaluate` on its output directory.
    """


def _dataset_help():
    return (
        "Dataset: 'rotten_tomatoes' (default; real review snippets, fixed "
        "train/validation/test split), '20newsgroups', 'csv:PATH', 'tsv:PATH', "
        "'jsonl:PATH', or 'tfds:NAME' (a TFDS text-classification dataset, needs "
        "network access the first time)."
    )


def _apply(options):
    """Applies a list of click options, first listed first in --help."""

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _output_options(default, output_help, overwrite_help):
    return _apply([
        click.option("--output-dir", "-o", default=default, show_default=True, help=output_help),
        click.option("--overwrite", is_flag=True, help=overwrite_help),
    ])


# Data and backbone: the same for `train` and `tune`.
_data_options = _apply([
    click.option("--preset", default="minilm_l6", show_default=True,
                 help="Backbone: 'minilm_l6' (pretrained all-MiniLM-L6-v2, offline), a local "
                      "KerasHub preset or Hugging Face checkpoint folder, or a KerasHub preset "
                      "handle (needs network)."),
    click.option("--dataset", "-d", default="rotten_tomatoes", show_default=True,
                 help=_dataset_help()),
    click.option("--text-column", default="text", show_default=True,
                 help="Text column of file datasets."),
    click.option("--text-pair-column", default=None,
                 help="Second text column, for sentence-pair classification."),
    click.option("--label-column", default="label", show_default=True,
                 help="Label column of file datasets."),
    click.option("--validation-data", default=None,
                 help="Validation dataset spec for file datasets (default: 10% of train, "
                      "stratified)."),
    click.option("--test-data", default=None, help="Test dataset spec for file datasets."),
])

_adapter_option = click.option(
    "--adapter", "-a", default="houlsby", show_default=True,
    help="Adapter config: preset 'houlsby' (after attention and feed-forward, layer "
         "norms trained) or 'pfeiffer' (after feed-forward only), or a JSON file.")

_bottleneck_option = click.option(
    "--bottleneck", "bottleneck_size", type=click.IntRange(min=1), default=None,
    help="Adapter bottleneck size (overrides the adapter config; houlsby: 64).")


def _training_options(epochs_help=None):
    return _apply([
        click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True,
                     help=epochs_help),
        click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--sequence-length", type=click.IntRange(min=8), default=48, show_default=True,
                     help="Tokens per example, longer inputs are truncated (48 covers 96% of the "
                          "Rotten Tomatoes snippets whole)."),
        click.option("--learning-rate", "--lr", "learning_rate",
                     type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
                     help="Peak learning rate of AdamW."),
        click.option("--schedule", type=click.Choice(["linear", "constant"]), default="linear",
                     show_default=True,
                     help="'linear': warm-up then linear decay to 0 (as Houlsby et al.)."),
        click.option("--warmup", "warmup_fraction", type=click.FloatRange(0, 1, max_open=True),
                     default=0.1, show_default=True,
                     help="Share of training steps used for warm-up."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01,
                     show_default=True),
        click.option("--pooling", type=click.Choice(["mean", "cls"]), default="mean",
                     show_default=True, help="How the classifier pools the token sequence."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--max-train-examples", type=click.IntRange(min=1), default=None,
                     help="Use at most this many training examples (quick runs)."),
    ])


@main.command()
@_output_options("runs/adapter-run", "Run directory to write (adapter files, metrics.json, plot).",
                 "Replace a run already in --output-dir.")
@_data_options
@_adapter_option
@_bottleneck_option
@_training_options()
@_guarded
def train(**options):
    """Fine-tune a pretrained backbone with adapters on a classification dataset.

    Loads the backbone and tokenizer, adds adapters (everything else frozen),
    trains with AdamW and warm-up + linear decay, keeps the best epoch on the
    validation split, evaluates it on the test split, and writes the adapter
    and head weights, metrics.json and training_curve.png to --output-dir.
    """
    _start()
    from keras_adapters.training import (
        TrainConfig,
        TrainingInterrupted,
        train_text_classifier,
    )

    config = TrainConfig(**options)
    try:
        metrics = train_text_classifier(config, log=console.print)
    except TrainingInterrupted as e:
        _interrupted(str(e))
    _print_metrics_table(
        {split: metrics[split] for split in ("validation", "test") if split in metrics},
        title=f"Best epoch: {metrics['best_epoch']}",
    )
    output = config.output_dir
    total = metrics["wall_time_seconds"]["total"]
    console.print(Text.assemble(
        "Run written to ", (output, "bold"),
        f" in {total:.0f} s (adapter/, metrics.json, training_curve.png, run.json).",
    ))
    _print_try_it(output)


def _print_try_it(run_dir):
    console.print("Try it:")
    console.print(f'  {_command_name()} predict {shlex.quote(run_dir)} '
                  '"a gorgeous, witty, seductive movie."')


def _comma_list(kind):
    """A click callback parsing 'a,b,c' into a tuple of `kind` (None stays None)."""

    def parse(context, parameter, value):
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        try:
            parsed = tuple(kind(item) for item in items)
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list of {kind.__name__} values, "
                                     f"got {value!r}.") from None
        if not parsed:
            raise click.BadParameter("give at least one value.")
        if len(set(parsed)) != len(parsed):
            raise click.BadParameter(f"values must be distinct; got {value!r}.")
        if kind in (int, float) and any(item <= 0 for item in parsed):
            raise click.BadParameter(f"values must be positive; got {value!r}.")
        return parsed

    return parse


@main.command()
@_output_options("runs/adapter-tune",
                 "Search directory to write (trials/, results.json/.csv/.png, best/).",
                 "Replace a search already in --output-dir.")
@_data_options
@_adapter_option
@click.option("--adapters", "adapter_presets", default=None, callback=_comma_list(str),
              help="Also search over adapter presets, e.g. 'houlsby,pfeiffer' (replaces --adapter).")
@click.option("--bottlenecks", "bottleneck_sizes", default="8,16,32,64,128,256", show_default=True,
              callback=_comma_list(int), help="Bottleneck sizes to choose from.")
@click.option("--learning-rates", "learning_rates", default=None, callback=_comma_list(float),
              help="Also search over peak learning rates, e.g. '1e-3,3e-4' (replaces --lr).")
@_training_options(epochs_help="Epochs per trial (Hyperband: its max_epochs).")
@click.option("--max-trials", type=click.IntRange(min=1), default=6, show_default=True,
              help="Trials for random and Bayesian search (random search also stops when every "
                   "combination was tried).")
@click.option("--tuner", type=click.Choice(["random", "bayesian", "hyperband"]), default="random",
              show_default=True, help="keras-tuner search algorithm (hyperband: factor 3).")
@click.option("--objective", type=click.Choice(["val_accuracy", "val_loss"]),
              default="val_accuracy", show_default=True, help="What the search optimises.")
@click.option("--max-trainable-params", "max_trainable_parameters", type=click.IntRange(min=1),
              default=None, help="Parameter budget: trials with more trainable parameters are "
                                 "not trained (reported as failed).")
@_guarded
def tune(**options):
    """Search adapter settings (bottleneck size, ...) with keras-tuner.

    Loads the backbone once and runs a keras-tuner search; each trial trains
    adapters on a fresh copy of the pretrained backbone and checkpoints only
    its adapter and head weights. Prints a results table and writes it as
    results.json, results.csv and results.png (validation metric against
    trainable parameters) to --output-dir, with the best trial written as a
    `train` run directory in OUTPUT_DIR/best (predict, evaluate and export
    work on it).
    """
    _start()
    from keras_adapters.tuning.text_classification import TuneConfig, tune_text_classifier

    config = TuneConfig(**options)
    result = tune_text_classifier(config, log=console.print)
    _print_tuning_table(result, config)
    best = result["best_metrics"]
    _print_metrics_table(
        {split: best[split] for split in ("validation", "test") if split in best},
        title=f"Best trial {result['best'].trial_id}: "
              + ", ".join(f"{k}={v}" for k, v in result["best"].hyperparameters.items()),
    )
    summary, paths = result["summary"], result["paths"]
    if summary.get("mean_trial_dir_bytes"):
        full = summary["full_weights_bytes_float32"]
        console.print(
            f"Disk per trained trial: {_size(summary['mean_trial_dir_bytes'])} on average "
            f"(adapter + head checkpoint, no backbone), vs {_size(full)} for the model's full "
            f"float32 weights ({100 * summary['mean_trial_dir_bytes'] / full:.1f}%)."
        )
    console.print(Text.assemble(
        "Results: ", (str(paths["json"]), "bold"),
        f", {paths['csv']}, {paths['png']} ({result['seconds']:.0f} s).",
    ))
    console.print(Text.assemble("Best trial written as a run to ", (str(paths["best"]), "bold"), "."))
    _print_try_it(str(paths["best"]))


def _size(num_bytes):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.2f} {unit}"
    return f"{num_bytes:.0f} B"


def _print_tuning_table(result, config):
    from keras_adapters.tuning.results import is_over_budget

    rows = result["rows"]
    tuned = [name for name in ("learning_rate", "adapter") if any(name in r.hyperparameters for r in rows)]
    table = Table(title=f"{config.tuner} search, {len(rows)} trials, objective {config.objective}")
    table.add_column("trial", no_wrap=True)
    table.add_column("bottleneck", justify="right")
    for name in tuned:
        table.add_column(name.replace("_", " "), justify="right")
    for column in ("trainable", "share", config.objective, "fit time"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    best_id = result["best"].trial_id
    notes = []
    for row in rows:
        value = "" if row.objective is None else (
            f"{100 * row.objective:.2f}%" if config.objective.endswith("accuracy") else f"{row.objective:.4f}")
        if row.status == "COMPLETED":
            status = "done"
        elif is_over_budget(row):
            status = "over budget"
        else:
            status = row.status.lower()
            notes.append(f"trial {row.trial_id}: {row.message}")
        table.add_row(
            row.trial_id + (" *" if row.trial_id == best_id else ""),
            str(row.bottleneck_size),
            *[str(row.hyperparameters.get(name, "")) for name in tuned],
            "" if row.trainable_parameters is None else f"{row.trainable_parameters:,}",
            "" if row.trainable_share is None else f"{100 * row.trainable_share:.2f}%",
            value,
            "" if row.fit_seconds is None else f"{row.fit_seconds:.1f} s",
            status,
        )
    console.print(table)
    legend = "* best trial."
    if any(is_over_budget(row) for row in rows):
        legend += " Over budget: more trainable parameters than --max-trainable-params; not trained."
    console.print(legend)
    for note in notes:
        console.print(f"  {note}", soft_wrap=True)


def _command_name():
    """How the user can call this tool from their shell."""
    import shutil

    if shutil.which("keras-adapters"):
        return "keras-adapters"
    if os.path.basename(sys.argv[0]) == "keras-adapters":
        return os.path.relpath(sys.argv[0])
    return f"{os.path.relpath(sys.executable)} -m keras_adapters"


def _print_metrics_table(rows, title):
    table = Table(title=title)
    table.add_column("split")
    for column in ("examples", "accuracy", "macro-F1", "loss"):
        table.add_column(column, justify="right")
    for split, m in rows.items():
        table.add_row(split, f"{m['num_examples']:,}", f"{100 * m['accuracy']:.2f}%",
                      f"{100 * m['macro_f1']:.2f}%", f"{m['loss']:.4f}")
    console.print(table)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "text_file", type=click.Path(dir_okay=False),
              help="Read texts from this UTF-8 file, one per line.")
@_guarded
def predict(run_dir, texts, text_file):
    """Predict labels for TEXTS with the model trained in RUN_DIR."""
    texts = list(texts)
    if text_file:
        texts += _read_lines(text_file)
    if not texts:
        _fail("Give at least one text to classify, as arguments or with --file.")
    _start()
    from keras_adapters.training import load_run

    run = load_run(run_dir)
    if run.info.get("text_pair"):
        _fail("This run classifies sentence pairs; `predict` takes single texts. "
              "Use the Python API (LoadedRun.predict_texts with pairs).")
    labels, probabilities = run.predict_texts(texts)
    table = Table()
    table.add_column("text", overflow="fold")
    table.add_column("label")
    table.add_column("probability", justify="right")
    for text, label, probs in zip(texts, labels, probabilities):
        table.add_row(text, label, f"{probs.max():.3f}")
    console.print(table)


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        _fail(f"Text file {path!r} does not exist.")
    except UnicodeDecodeError as e:
        _fail(f"Text file {path!r} is not valid UTF-8 (byte {e.start}). Save it as UTF-8.")


SPLITS = ("all", "test", "validation", "train")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--dataset", "-d", default=None,
              help="Dataset spec to score (default: the run's own dataset). A file given here "
                   "('csv:PATH', 'tsv:PATH', 'jsonl:PATH') is scored whole, every row, and may "
                   "use any of the run's labels. " + _dataset_help())
@click.option("--split", type=click.Choice(SPLITS), default=None,
              help="What to score: 'all' (every example: train, validation and test together) "
                   "or one split. Default: 'all' for a file given with --dataset, else 'test'. "
                   "The train and validation splits of a file are the ones made at training "
                   "time (a seeded 10% of its rows held out), so either scores only part of "
                   "the file.")
@click.option("--text-column", default=None, help="Default: the run's.")
@click.option("--label-column", default=None, help="Default: the run's.")
@_guarded
def evaluate(run_dir, dataset, split, text_column, label_column):
    """Evaluate the model trained in RUN_DIR on a dataset.

    Prints accuracy, macro-F1 and loss, and says exactly which examples were
    scored (how many, from which split).
    """
    _start()
    from keras_adapters.data import load_dataset
    from keras_adapters.data.files import parse_file_spec
    from keras_adapters.data.loading import describe_labels, load_labelled_file
    from keras_adapters.training import load_run

    run = load_run(run_dir)
    config = run.info["config"]
    spec = dataset or config["dataset"]
    columns = {
        "text_column": text_column or config["text_column"],
        "label_column": label_column or config["label_column"],
        "text_pair_column": config["text_pair_column"],
    }
    given_file = dataset is not None and parse_file_spec(dataset) is not None
    split = split or ("all" if given_file else "test")
    if given_file and split == "all":
        subset = load_labelled_file(dataset, run.label_names, **columns)
        scored = f"every row of {dataset}"
    else:
        data = load_dataset(
            spec,
            **columns,
            validation=None if dataset else config["validation_data"],
            test=None if dataset else config["test_data"],
            seed=config["seed"],
        )
        if list(data.label_names) != list(run.label_names):
            _fail(f"Dataset {spec!r} has the labels {describe_labels(data.label_names)}, but "
                  f"the run was trained on {describe_labels(run.label_names)}."
                  + (" Leave out --split to score the whole file with the run's labels."
                     if given_file else ""))
        sizes = ", ".join(f"{name} {count:,}" for name, count in data.num_examples.items())
        if split == "all":
            subset = None
            for name in ("train", "validation", "test"):
                part = getattr(data, name)
                if part is not None:
                    subset = part if subset is None else subset.concatenate(part)
            scored = f"every split of {spec} ({sizes})"
        else:
            subset = getattr(data, split)
            if subset is None:
                _fail(f"Dataset {spec!r} has no {split} split (it has {sizes}). Choose "
                      f"--split {' or --split '.join(data.num_examples)}, or --split all.")
            scored = (f"the {split} split of {spec} ({sizes}; --split all scores every "
                      "example)")
    metrics = run.evaluate(subset)
    _print_metrics_table({split: metrics}, title=f"{spec} / {split}")
    console.print(f"Scored {metrics['num_examples']:,} examples: {scored}.")


EXAMPLE_TEXTS = [
    "a gorgeous, witty, seductive movie.",
    "the plot is a tedious mess and the jokes fall flat.",
]


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--base-path", required=True, type=click.Path(file_okay=False),
              help="TF Serving model base path; the export goes to BASE/NAME/VERSION.")
@click.option("--name", required=True, help="Model name (directory under --base-path).")
@click.option("--version", type=click.IntRange(min=1), default=None,
              help="Version number (default: one more than the highest existing).")
@click.option("--text-signature", is_flag=True,
              help="Also add a 'serving_text' signature taking raw strings (tokenizer in the "
                   "graph: needs a TF Serving whose bundled tensorflow-text has its ops).")
@click.option("--overwrite", is_flag=True, help="Replace an existing version.")
@_guarded
def export_command(run_dir, base_path, name, version, text_signature, overwrite):
    """Export the model trained in RUN_DIR as a SavedModel for TF Serving.

    Writes BASE/NAME/VERSION atomically (a crash never leaves a partial version
    that a polling server would load), with tag 'serve' and a 'serving_default'
    signature: int32 token_ids / padding_mask (/ segment_ids) in, logits and
    probabilities out. Check it with `keras-adapters check-export`.
    """
    _start()
    from keras_adapters.export import export_saved_model, tokenize_for_serving
    from keras_adapters.training import load_run

    run = load_run(run_dir)
    if run.info.get("text_pair"):
        _fail("Exporting sentence-pair runs is not supported yet.")
    exported = export_saved_model(
        run.model,
        base_path,
        name,
        version,
        preprocessor=run.preprocessor,
        text_signature=text_signature,
        sample_inputs=tokenize_for_serving(run.preprocessor, EXAMPLE_TEXTS),
        overwrite=overwrite,
        metadata={"label_names": run.label_names, "run_dir": os.path.abspath(run_dir),
                  "sequence_length": run.info["config"]["sequence_length"]},
    )
    table = Table(title=f"Exported {exported.path}")
    for column in ("signature", "inputs", "outputs"):
        table.add_column(column)
    for signature, parts in exported.signatures.items():
        describe = lambda tensors: ", ".join(  # noqa: E731
            f"{k} {v['dtype']}{v['shape']}" for k, v in tensors.items()
        )
        table.add_row(signature, describe(parts["inputs"]), describe(parts["outputs"]))
    console.print(table)
    size = sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(exported.path) for f in files
    )
    console.print(f"Version {exported.version}, {size / 1e6:.1f} MB. Verify it with:")
    console.print(f"  {_command_name()} check-export {shlex.quote(str(exported.path))}")


@main.command("check-export")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@_guarded
def check_export_command(path):
    """Load and run an export with TensorFlow's C++ SavedModel loader.

    In a fresh process that imports no tensorflow Python package (nor keras,
    keras_hub, tensorflow_text), loads PATH (BASE/NAME/VERSION) through the C
    API's TF_LoadSessionFromSavedModel, the loader TF Serving uses, runs
    'serving_default' on the inputs recorded at export and compares with Keras
    (within 1e-5); audits every op against that process's op registry. This is
    not a TF Serving binary: request handling and batching are not exercised.
    """
    _start()
    from keras_adapters.export import check_export

    result = check_export(path)
    report = result.report
    table = Table(title=f"C++ SavedModel loader check: {path}")
    table.add_column("check")
    table.add_column("result")
    table.add_row("loaded by TF_LoadSessionFromSavedModel", "yes" if result.loaded else "NO")
    if "load_seconds" in report:
        table.add_row("load time", f"{report['load_seconds']:.2f} s")
    table.add_row("ran " + ", ".join(report.get("runs", {})) if result.ran else "ran the signatures",
                  "yes" if result.ran else "NO")
    if result.max_abs_diff is not None:
        table.add_row("max |C++ - Keras|", f"{result.max_abs_diff:.2e}")
    for signature, run in report.get("runs", {}).items():
        batch = next(iter(run["outputs"].values()), [None])[0]
        table.add_row(f"{signature}: latency per batch of {batch} (median of 5)",
                      f"{1000 * run['seconds_median']:.1f} ms")
    table.add_row("ops used", str(len(report.get("ops", []))))
    table.add_row("ops outside TF's core registry",
                  ", ".join(result.unregistered_ops) or "none")
    console.print(table)
    if result.passed:
        console.print(_styled("PASSED:", "bold green", "loaded and run by TensorFlow's C++ "
                              "SavedModel loader; outputs match Keras."))
    else:
        _fail("Export check failed: " + "; ".join(result.problems))


if __name__ == "__main__":
    main()
