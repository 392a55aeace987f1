"""The question-answering side of `train`, `predict` and `evaluate`.

`keras_adapters.cli.run_commands` hands a run whose `run.json` says
`"task": "question-answering"` (or `train --task question-answering`) to
these functions. Importing this module loads neither Keras nor TensorFlow.
"""

import operator
import shlex

from rich.table import Table
from rich.text import Text

from keras_adapters.cli.console import command_name, console, fail
from keras_adapters.cli.evaluation_split import examples_to_score


def print_qa_scores(rows, title):
    """Prints SQuAD exact match and F1 per split (`rows`: split -> scores)."""
    table = Table(title=title)
    table.add_column("split")
    for column in ("questions", "exact match", "F1"):
        table.add_column(column, justify="right")
    for split, scores in rows.items():
        table.add_row(split, f"{scores['num_examples']:,}", f"{scores['exact_match']:.2f}%",
                      f"{scores['f1']:.2f}%")
    console.print(table)


def report_training(metrics, output_dir):
    """What `train --task question-answering` prints when the run is written."""
    print_qa_scores({split: metrics[split] for split in ("validation", "test") if split in metrics},
                    title=f"Best epoch: {metrics['best_epoch']}")
    console.print(Text.assemble(
        "Run written to ", (output_dir, "bold"),
        f" in {metrics['wall_time_seconds']['total']:.0f} s (adapter/, metrics.json, "
        "training_curve.png, run.json).",
    ))
    console.print("Try it:")
    console.print(f"  {command_name()} predict {shlex.quote(output_dir)} "
                  '--question "Who wrote it?" --context "The book was written by Jane Austen."')


def predict_answers(run, questions, contexts):
    """Prints the answer span of each context for its question."""
    if not questions or len(questions) != len(contexts):
        fail("A question-answering run answers --question with --context: give both, equally "
             f"often (got {len(questions)} questions and {len(contexts)} contexts).")
    answers, scores = run.answer(questions, contexts)
    table = Table()
    table.add_column("question", overflow="fold")
    table.add_column("answer", overflow="fold")
    table.add_column("score", justify="right")
    for question, answer, score in zip(questions, answers, scores):
        table.add_row(question, answer, "" if score is None else f"{score:.2f}")
    console.print(table)


def evaluate_run(run, dataset, split):
    """Scores exact match and F1 of a question-answering run on a split or a file."""
    from keras_adapters.data.question_answering import load_qa_dataset, read_qa_file

    config = run.info["config"]
    spec = dataset or config["dataset"]
    if dataset is not None and split in (None, "all"):
        examples, scored, split = read_qa_file(dataset), f"every question of {dataset}", "all"
    else:
        split = split or "test"
        data = load_qa_dataset(spec,
                               validation=None if dataset else config["validation_data"],
                               test=None if dataset else config["test_data"],
                               seed=config["seed"])
        examples, scored = examples_to_score(data, split, spec, operator.add,
                                             trained_without_test=not dataset and not config["test_data"])
    scores = run.evaluate(examples)
    print_qa_scores({split: scores}, title=f"{spec} / {split}")
    console.print(f"Scored {scores['num_examples']:,} questions: {scored}.")
