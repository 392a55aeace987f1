"""The sequence-to-sequence side of `train`, `predict` and `evaluate`.

`keras_adapters.cli.run_commands` hands a seq2seq run (`train --task
seq2seq`; its record is `metrics.json`) to these functions. Importing this
module loads neither Keras nor TensorFlow.
"""

import operator
import shlex

from rich.table import Table

from keras_adapters.cli.console import command_name, console
from keras_adapters.cli.evaluation_split import examples_to_score


def report_training(metrics, output_dir):
    """What `train --task seq2seq` prints after `train_seq2seq`'s own lines."""
    # Here, not at the top: importing this module must not load Keras (training has, by now).
    from keras_adapters.training.seq2seq import FULL_TRAINING

    if metrics.get("adapter") == FULL_TRAINING:
        console.print("A --adapter full run keeps only its metrics (the comparison arm): "
                      "train with adapters to predict or evaluate.")
        return
    examples = metrics.get("test", {}).get("examples") or [("a source text",)]
    source = " ".join(examples[0][0].split()[:12])  # the start of a test source, as an example
    console.print("Try it:")
    console.print(f"  {command_name()} predict {shlex.quote(output_dir)} {shlex.quote(source)}")
    console.print(f"  {command_name()} evaluate {shlex.quote(output_dir)}")


def print_rouge_scores(rows, title):
    """Prints loss and ROUGE-1/2/L per split (`rows`: split -> `evaluate_seq2seq` scores)."""
    table = Table(title=title)
    table.add_column("split")
    for column in ("pairs", "loss", "ROUGE-1", "ROUGE-2", "ROUGE-L"):
        table.add_column(column, justify="right")
    for split, scores in rows.items():
        table.add_row(split, f"{scores['num_examples']:,}", f"{scores['loss']:.4f}",
                      *(f"{scores[name]:.2f}" for name in ("rouge1", "rouge2", "rougeL")))
    console.print(table)


def predict_outputs(run, texts):
    """Prints the generated output (greedy, through the adapters) for each source text."""
    outputs = run.generate(texts)
    table = Table()
    table.add_column("source", overflow="fold")
    table.add_column("generated", overflow="fold")
    for text, output in zip(texts, outputs):
        table.add_row(text, output)
    console.print(table)


def evaluate_run(run, dataset, split):
    """Scores loss and ROUGE of a seq2seq run on a split of a dataset, or a whole file.

    Args:
        run: a `LoadedSeq2Seq`.
        dataset: None (the run's dataset), `"aclsum"` or `"jsonl:PATH"`.
        split: None, `"all"` or a split name; a file given as `dataset` is
            scored whole unless a split is named.
    """
    from keras_adapters.data.seq2seq import load_seq2seq_dataset, read_pairs_file

    config = run.info["config"]
    spec = dataset or config["dataset"]
    if dataset is not None and ":" in dataset and split in (None, "all"):
        pairs, scored, split = read_pairs_file(dataset), f"every pair of {dataset}", "all"
    else:
        split = split or "test"
        own = dataset is None  # the run's own splits: its test file, seed and training subset
        data = load_seq2seq_dataset(spec, test_spec=config["test_data"] if own else None,
                                    max_train_examples=config["max_train_examples"] if own else None,
                                    seed=config["seed"])
        pairs, scored = examples_to_score(data, split, spec, operator.add,
                                          trained_without_test=own and not config["test_data"])
    scores = run.evaluate(pairs)
    print_rouge_scores({split: scores}, title=f"{spec} / {split}")
    console.print(f"Scored {scores['num_examples']:,} pairs: {scored}.")
