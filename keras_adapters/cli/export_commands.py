"""`keras-adapters export` and `check-export`: SavedModels for TF Serving.

`keras_adapters.export` (TensorFlow) is imported when a command runs, so
`--help` and option errors answer without it.
"""

import os
import shlex

import click
from rich.table import Table

from keras_adapters import training
from keras_adapters.cli.console import command_name, console, fail, guarded, styled
from keras_adapters.utils.sizes import directory_bytes

# Recorded with the export as the inputs `check-export` runs it on.
EXAMPLE_TEXTS = [
    "a gorgeous, witty, seductive movie.",
    "the plot is a tedious mess and the jokes fall flat.",
]


@click.command("export")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False),
                metavar="RUN_DIR...")
@click.option("--base-path", required=True, type=click.Path(file_okay=False),
              help="TF Serving model base path; the export goes to BASE/NAME/VERSION.")
@click.option("--name", required=True, help="Model name (directory under --base-path).")
@click.option("--version", type=click.IntRange(min=1), default=None,
              help="Version number (default: one more than the highest existing).")
@click.option("--text-signature", is_flag=True,
              help="Also add a 'serving_text' signature taking raw strings (tokenizer in the "
                   "graph: needs a TF Serving whose bundled tensorflow-text has its ops).")
@click.option("--overwrite", is_flag=True, help="Replace an existing version.")
@click.option("--merge", is_flag=True,
              help="Fold the run's LoRA or (IA)^3 adapter into the projections: the served "
                   "graph runs as fast as the base model (single run only).")
@click.option("--task", "task_names", multiple=True,
              help="With several RUN_DIRs: each run's task name, in order (default: the "
                   "directory names); names its signature and its task_id.")
@guarded
def export_command(run_dirs, base_path, name, version, text_signature, overwrite, merge, task_names):
    """Export the model trained in RUN_DIR as a SavedModel for TF Serving.

    Writes BASE/NAME/VERSION atomically (a crash never leaves a partial version
    that a polling server would load), with tag 'serve' and a 'serving_default'
    signature: int32 token_ids / padding_mask (/ segment_ids) in, logits and
    probabilities out. Check it with `keras-adapters check-export`.

    Several RUN_DIRs (runs on one preset whose adapters keep the layer norms
    frozen, e.g. --adapter pfeiffer) export as one model: the backbone stored
    once, a signature per task, and 'serving_multitask', which takes rows of
    every task in one batch with an int32 task_id per row (ids in RUN_DIR
    order) and returns logits padded to the largest label count (-1e9),
    probabilities (padded with 0) and each row's num_classes.
    """
    from keras_adapters.export import export_run_set

    if len(run_dirs) > 1 or task_names:
        if text_signature or merge:
            fail("--text-signature and --merge are for a single run; a run set is served with "
                 "token inputs and unmerged adapters.")
        exported, _ = export_run_set(run_dirs, base_path, name, version, task_names=task_names,
                                     sample_texts=EXAMPLE_TEXTS, overwrite=overwrite)
    else:
        exported = _export_run(run_dirs[0], base_path, name, version, text_signature, overwrite, merge)
    _print_export(exported)


def _export_run(run_dir, base_path, name, version, text_signature, overwrite, merge=False):
    from keras_adapters.export import export_saved_model, tokenize_for_serving

    run = training.load_run(run_dir)
    task = run.info.get("task", "text-classification")
    if task == "question-answering":
        if text_signature or merge:
            fail("--text-signature and --merge are not supported for question-answering runs yet.")
        from keras_adapters.export.question_answering import export_question_answerer

        return export_question_answerer(
            run.model, base_path, name, version, overwrite=overwrite,
            metadata={"task": task, "run_dir": os.path.abspath(run_dir),
                      "sequence_length": run.sequence_length},
        )
    if task != "text-classification":
        fail(f"Exporting {task} runs is not supported yet; text-classification and "
             "question-answering runs export.")
    if run.info.get("text_pair"):
        fail("Exporting sentence-pair runs is not supported yet.")
    exported = export_saved_model(
        run.model,
        base_path,
        name,
        version,
        preprocessor=run.preprocessor,
        text_signature=text_signature,
        sample_inputs=tokenize_for_serving(run.preprocessor, EXAMPLE_TEXTS),
        overwrite=overwrite,
        merge=merge,
        metadata={"label_names": run.label_names, "run_dir": os.path.abspath(run_dir),
                  "sequence_length": run.info["config"]["sequence_length"]},
    )
    return exported


def _print_export(exported):
    from keras_adapters.export import ROUTED_SIGNATURE, read_export_metadata

    table = Table(title=f"Exported {exported.path}")
    for column in ("signature", "inputs", "outputs"):
        table.add_column(column)
    for signature, parts in exported.signatures.items():
        table.add_row(signature, _describe_tensors(parts["inputs"]), _describe_tensors(parts["outputs"]))
    console.print(table)
    routed_tasks = read_export_metadata(exported.path)["metadata"].get(ROUTED_SIGNATURE)
    if routed_tasks:
        console.print(f"{ROUTED_SIGNATURE} task_id: {_describe_task_ids(routed_tasks['tasks'])}")
    size = directory_bytes(exported.path)
    console.print(f"Version {exported.version}, {size / 1e6:.1f} MB. Verify it with:")
    console.print(f"  {command_name()} check-export {shlex.quote(str(exported.path))}")


def _describe_tensors(tensors):
    return ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in tensors.items())


def _describe_task_ids(tasks):
    return ", ".join(f"{t['task_id']}={t['task']} ({t['num_classes']} classes)" for t in tasks)


@click.command("check-export")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@guarded
def check_export_command(path):
    """Load and run an export with TensorFlow's C++ SavedModel loader.

    In a fresh process that imports no tensorflow Python package (nor keras,
    keras_hub, tensorflow_text), loads PATH (BASE/NAME/VERSION) through the C
    API's TF_LoadSessionFromSavedModel, the loader TF Serving uses, runs
    'serving_default' on the inputs recorded at export and compares with Keras
    (within 1e-5); audits every op against that process's op registry. This is
    not a TF Serving binary: request handling and batching are not exercised.
    """
    from keras_adapters.export import ROUTED_SIGNATURE, check_export

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
    if result.routed_tasks:
        table.add_row(f"{ROUTED_SIGNATURE} task_id", _describe_task_ids(result.routed_tasks))
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
        console.print(styled("PASSED:", "bold green", "loaded and run by TensorFlow's C++ "
                             "SavedModel loader; outputs match Keras."))
    else:
        fail("Export check failed: " + "; ".join(result.problems))
