"""`keras-adapters train`, `predict` and `evaluate`: a run directory's life.

Importing this module loads neither Keras nor TensorFlow (`keras_adapters.training`
imports its names on first use, the data modules are imported by the command
that uses them), so `--help` and option errors answer without them.
"""

import click
from rich.table import Table
from rich.text import Text

from keras_adapters import training
from keras_adapters.cli import question_answering, seq2seq
from keras_adapters.cli.config_options import build_config, config_options
from keras_adapters.cli.evaluation_split import examples_to_score
from keras_adapters.cli.console import (
    console,
    fail,
    guarded,
    interrupted,
    print_metrics_table,
    print_try_it,
)
from keras_adapters.training.config import DATASET_HELP, TrainConfig

SPLITS = ("all", "test", "validation", "train")


@click.command()
@config_options(TrainConfig)
@guarded
def train(**options):
    """Fine-tune a pretrained backbone with adapters on a classification dataset.

    Loads the backbone and tokenizer, adds adapters (everything else frozen),
    trains with AdamW and warm-up + linear decay, keeps the best epoch on the
    validation split, evaluates it on the test split, and writes the adapter
    and head weights, metrics.json and training_curve.png to --output-dir.
    """
    config = build_config(TrainConfig, options)
    # Looked up on `training` when called, so a replaced one (tests, wrappers) is the one run.
    try:
        metrics = training.train_text_classifier(config, log=console.print)
    except training.TrainingInterrupted as e:
        interrupted(str(e))
    if metrics is None and config.process_id:  # a process other than 0 of --distribute data-parallel
        console.print(f"Process {config.process_id} done; process 0 writes the run to "
                      f"{config.output_dir}.")
        return None
    if config.task == "question-answering":
        return question_answering.report_training(metrics, config.output_dir)
    if config.task == "seq2seq":  # train_seq2seq logged the test scores and the run directory
        return seq2seq.report_training(metrics, config.output_dir)
    print_metrics_table(
        {split: metrics[split] for split in ("validation", "test") if split in metrics},
        title=f"Best epoch: {metrics['best_epoch']}",
    )
    output = config.output_dir
    total = metrics["wall_time_seconds"]["total"]
    console.print(Text.assemble(
        "Run written to ", (output, "bold"),
        f" in {total:.0f} s (adapter/, metrics.json, training_curve.png, run.json).",
    ))
    print_try_it(output)


# What each task's `predict` takes instead of --question/--context, and `evaluate` instead
# of --text-column/--label-column.
_TEXTS_INSTEAD = {
    "text-classification": "this run classifies texts: give them as arguments",
    "seq2seq": "this seq2seq run generates text from sources: give them as arguments or with --file",
}
_COLUMNS_INSTEAD = {
    "question-answering": "a question-answering file has the fields context, question and answers",
    "seq2seq": "a seq2seq file has the fields source and target",
}


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("texts", nargs=-1)
@click.option("--file", "text_file", type=click.Path(dir_okay=False),
              help="Read texts from this UTF-8 file, one per line.")
@click.option("--question", "questions", multiple=True,
              help="Question-answering runs: a question (repeat with one --context each).")
@click.option("--context", "contexts", multiple=True,
              help="Question-answering runs: the passage the answer is taken from.")
@guarded
def predict(run_dir, texts, text_file, questions, contexts):
    """Predict labels for TEXTS with the model trained in RUN_DIR.

    For a question-answering run, give --question and --context instead:
    it prints the span of each context that answers its question. For a
    seq2seq run, TEXTS are sources: it prints the text generated for each.
    """
    from keras_adapters.training.loaded_run import run_task

    # From the record alone, so options meant for another task are refused before loading.
    run, task = None, run_task(run_dir)
    if task is None:  # No readable record: load_run says what is wrong.
        run = training.load_run(run_dir)
        task = run.info.get("task") or "text-classification"
    if task == "question-answering":
        if texts or text_file:
            fail("This run answers questions: give --question and --context (not texts).")
        return question_answering.predict_answers(run or training.load_run(run_dir),
                                                  list(questions), list(contexts))
    if questions or contexts:
        fail(f"--question and --context are for question-answering runs; "
             f"{_TEXTS_INSTEAD.get(task, 'give texts as arguments')}.")
    texts = list(texts)
    if text_file:
        texts += _read_lines(text_file)
    if not texts:
        fail("Give at least one source text, as arguments or with --file." if task == "seq2seq"
             else "Give at least one text to classify, as arguments or with --file.")
    run = run or training.load_run(run_dir)
    if task == "seq2seq":
        return seq2seq.predict_outputs(run, texts)
    if run.info.get("text_pair"):
        fail("This run classifies sentence pairs; `predict` takes single texts. "
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
        fail(f"Text file {path!r} does not exist.")
    except UnicodeDecodeError as e:
        fail(f"Text file {path!r} is not valid UTF-8 (byte {e.start}). Save it as UTF-8.")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--dataset", "-d", default=None,
              help="Dataset spec to score (default: the run's own dataset). A file given here "
                   "('csv:PATH', 'tsv:PATH', 'jsonl:PATH') is scored whole, every row, and may "
                   "use any of the run's labels. " + DATASET_HELP + " For a seq2seq run: "
                   "'aclsum' or 'jsonl:PATH' with 'source' and 'target' fields.")
@click.option("--split", type=click.Choice(SPLITS), default=None,
              help="What to score: 'all' (every example: train, validation and test together) "
                   "or one split. Default: 'all' for a file given with --dataset, else 'test'. "
                   "The train and validation splits of a file are the ones made at training "
                   "time (a seeded 10% of its rows held out), so either scores only part of "
                   "the file.")
@click.option("--text-column", default=None, help="Classification runs. Default: the run's.")
@click.option("--label-column", default=None, help="Classification runs. Default: the run's.")
@guarded
def evaluate(run_dir, dataset, split, text_column, label_column):
    """Evaluate the model trained in RUN_DIR on a dataset.

    Prints accuracy, macro-F1 and loss (question answering: exact match and
    F1; seq2seq: loss and ROUGE-1/2/L of the generated texts), and says
    exactly which examples were scored (how many, from which split).
    """
    from keras_adapters.training.loaded_run import run_task

    task = run_task(run_dir)
    if task in _COLUMNS_INSTEAD and (text_column or label_column):
        fail(f"--text-column and --label-column are for text-classification runs; "
             f"{_COLUMNS_INSTEAD[task]}.")
    from keras_adapters.data import load_dataset
    from keras_adapters.data.file_formats import parse_file_spec
    from keras_adapters.data.loading import describe_labels, load_labelled_file

    run = training.load_run(run_dir)
    if run.info.get("task") == "question-answering":
        return question_answering.evaluate_run(run, dataset, split)
    if run.info.get("task") == "seq2seq":
        return seq2seq.evaluate_run(run, dataset, split)
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
            fail(f"Dataset {spec!r} has the labels {describe_labels(data.label_names)}, but "
                 f"the run was trained on {describe_labels(run.label_names)}."
                 + (" Leave out --split to score the whole file with the run's labels."
                    if given_file else ""))
        subset, scored = examples_to_score(data, split, spec, lambda a, b: a.concatenate(b))
    metrics = run.evaluate(subset)
    print_metrics_table({split: metrics}, title=f"{spec} / {split}")
    console.print(f"Scored {metrics['num_examples']:,} examples: {scored}.")
