"""`python -m benchmarks`: the benchmark suite's command line.

    python -m benchmarks all              # = make bench: everything, ~1 hour on 2 cores
    python -m benchmarks all --quick      # = make bench-quick: same pipeline, tiny model
    python -m benchmarks compare [--quick] [--out DIR]
    python -m benchmarks scaling [--quick] [--out DIR]
    python -m benchmarks profile [--quick] [--out DIR]
    python -m benchmarks memory [--quick] [--out DIR]
    python -m benchmarks report [--out DIR] [--update-docs]
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")
QUICK_RESULTS = os.path.join(REPO_ROOT, "runs", "bench-quick")

quick_option = click.option(
    "--quick", is_flag=True,
    help="The same pipeline on a small random backbone and a data slice (a few minutes).",
)
out_option = click.option(
    "--out", type=click.Path(file_okay=False), default=None,
    help="Results directory (default: benchmarks/results, or runs/bench-quick with --quick).",
)


def _out(out, quick):
    out = out or (QUICK_RESULTS if quick else FULL_RESULTS)
    os.makedirs(out, exist_ok=True)
    return out


def _write_json(path, data):
    from keras_adapters.utils.atomic import atomic_write_json

    atomic_write_json(path, data)


def _log(message):
    click.echo(message, err=True)


@click.group()
def main():
    """keras-adapters benchmarks: adapters vs full fine-tuning, LoRA and a linear probe."""


#: Each measured part: a module `benchmarks.<part>` with `run_<part>(settings,
#: log)` and `RESULT_FILE`, run as `python -m benchmarks <part>`.
PARTS_HELP = {
    "compare": "Train and measure every arm in one process; write compare.json.",
    "scaling": "Step time and latency vs sequence length and bottleneck; write scaling.json.",
    "profile": "Inference-overhead profile of adapter variants; write profile.json.",
    "memory": "Peak RSS of each arm, each in a fresh process; write memory.json.",
}


def _add_part_command(part):
    @main.command(name=part, help=PARTS_HELP[part])
    @quick_option
    @out_option
    def command(quick, out):
        import importlib

        from benchmarks.arms import Settings

        module = importlib.import_module(f"benchmarks.{part}")
        result = getattr(module, f"run_{part}")(Settings.get(quick), log=_log)
        _write_json(os.path.join(_out(out, quick), module.RESULT_FILE), result)


for _part in PARTS_HELP:
    _add_part_command(_part)


@main.command(name="memory-arm")
@click.argument("arm")
@quick_option
def memory_arm(arm, quick):
    """(Used by `memory`.) Train ARM a few steps here; print its memory as JSON."""
    from benchmarks.arms import ARM_NAMES, Settings
    from benchmarks.memory import measure_arm

    if arm not in ARM_NAMES:
        raise click.BadParameter(f"{arm!r}; choose from {', '.join(ARM_NAMES)}.", param_hint="ARM")
    click.echo(json.dumps({"arm": arm, **measure_arm(arm, Settings.get(quick))}))


@main.command()
@out_option
@click.option("--quick", is_flag=True, help="Report on the quick results directory.")
@click.option("--update-docs", is_flag=True, help="Rewrite the benchmark block of README.md and docs/benchmarks.md.")
def report(out, quick, update_docs):
    """Markdown table and plots from the results JSON."""
    from benchmarks.report import load_results, render_markdown, update_documents, write_plots

    out = _out(out, quick)
    results = load_results(out)
    if update_docs and (results["compare"]["quick"] or results["scaling"]["quick"]):
        raise click.UsageError("Refusing to put quick-mode results into the README and docs.")
    write_plots(results["scaling"], out)
    markdown = render_markdown(results, "")
    with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
        f.write("# keras-adapters benchmarks\n\n" + markdown)
    if update_docs:
        update_documents(results, out, REPO_ROOT)
    click.echo(markdown)


@main.command(name="all")
@quick_option
@out_option
def run_all(quick, out):
    """compare, scaling, profile and memory (each in its own process), then report."""
    out = _out(out, quick)
    started = time.time()
    for part in PARTS_HELP:
        command = [sys.executable, "-m", "benchmarks", part, "--out", out] + (["--quick"] if quick else [])
        _log(f"$ {' '.join(command[1:])}")
        subprocess.run(command, check=True, cwd=REPO_ROOT)
    _write_json(os.path.join(out, "run.json"), {
        "command": "make bench-quick" if quick else "make bench",
        "duration_seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    command = [sys.executable, "-m", "benchmarks", "report", "--out", out] + ([] if quick else ["--update-docs"])
    subprocess.run(command, check=True, cwd=REPO_ROOT)


if __name__ == "__main__":
    main()
