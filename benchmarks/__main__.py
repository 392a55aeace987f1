"""`python -m benchmarks`: the benchmark suite's command line.

    python -m benchmarks all              # = make bench: everything (hours on 2 cores)
    python -m benchmarks all --quick      # = make bench-quick: same pipeline, tiny model
    python -m benchmarks compare [--quick] [--out DIR] [--seeds N] [--arms A,B]
    python -m benchmarks scaling [--quick] [--out DIR]
    python -m benchmarks profile [--quick] [--out DIR]
    python -m benchmarks memory [--quick] [--out DIR] [--arms A,B]
    python -m benchmarks serving [--quick] [--out DIR]
    python -m benchmarks scaling-out [--quick] [--out DIR]
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
    "compare": "Time every arm, then train it at equal epochs and equal time; write compare.json.",
    "scaling": "Step time and latency vs sequence length and bottleneck; write scaling.json.",
    "profile": "Inference-overhead profile of adapter variants; write profile.json.",
    "memory": "Peak RSS of each arm, each in a fresh process; write memory.json.",
    "serving": "Routed multi-task signature vs per-task signatures: throughput, latency; write serving.json.",
    "backends": "Training step on TensorFlow, JAX and PyTorch, jit_compile off and on; write backends.json.",
    "scaling-out": "Training throughput on 1 and 2 replicas (MirroredStrategy, JAX); write scaling_out.json.",
}

#: Parts whose module is not named as the part (a module name cannot hold a hyphen).
PART_MODULES = {"scaling-out": "scaling_out"}


def part_module(part):
    """The module of a part of `PARTS_HELP`: `benchmarks.<part>`, or as `PART_MODULES` maps it."""
    import importlib

    return importlib.import_module(f"benchmarks.{PART_MODULES.get(part, part)}")


seeds_option = click.option(
    "--seeds", type=click.IntRange(min=1), default=None,
    help="Seeds of full fine-tuning, LoRA and the recommended adapter arm "
    "[default: 3; 1 with --quick].",
)


#: Parts that take `--seeds` (the others train nothing to seed).
SEEDED_PARTS = ("compare",)

#: Parts that take `--arms` (a partial re-run merged into the existing file: `benchmarks.partial`).
ARMS_PARTS = ("compare", "memory")

arms_option = click.option(
    "--arms", default=None, metavar="A,B",
    help="Measure only these arms (comma-separated) and merge them into the existing results "
    "file in --out, keeping the other arms' records; `compare` times them interleaved with "
    "full fine-tuning (their equal-time budget) but trains only them. Default: every arm.",
)


new_option = click.option(
    "--new", is_flag=True,
    help="With --arms: start a new compare.json holding only these arms (replacing the file "
    "in --out), the first piece of a comparison run in pieces; later pieces merge into it.",
)


def _add_part_command(part):
    def command(quick, out, seeds=None, arms=None, new=False):
        _run_part(part, quick, out, seeds, arms, new)

    if part in SEEDED_PARTS:
        command = seeds_option(command)
    if part in ARMS_PARTS:
        command = arms_option(command)
    if part == "compare":
        command = new_option(command)
    main.command(name=part, help=PARTS_HELP[part])(quick_option(out_option(command)))


def _run_part(part, quick, out, seeds, arms=None, new=False):
    """Runs one measured part in this process and writes its JSON file.

    With `arms` (the `--arms` text), measures only those arms and merges
    them into the part's existing file (`benchmarks.partial`), which is
    checked before anything runs; with `new` too (compare only), writes
    a new file of those arms instead.
    """
    from benchmarks.arms import Settings

    module = part_module(part)
    run = getattr(module, f"run_{PART_MODULES.get(part, part)}")
    settings = Settings.get(quick, seeds)
    path = os.path.join(_out(out, quick), module.RESULT_FILE)
    if arms is None:
        if new:
            raise click.UsageError("--new starts a comparison run in pieces: name its arms with --arms.")
        _write_json(path, run(settings, log=_log))
        return
    from benchmarks import partial
    from keras_adapters.errors import KerasAdaptersError

    try:
        names = partial.parse_arms(arms)
        if new:
            _write_json(path, partial.start_compare(module.run_compare(settings, log=_log, arms=names)))
            _log(f"started {path} with {', '.join(names)}")
            return
        existing = partial.load_existing(path, part, settings)
        result = partial.MERGERS[part](existing, run(settings, log=_log, arms=names))
    except KerasAdaptersError as error:
        raise click.ClickException(str(error)) from None
    _write_json(path, result)
    _log(f"merged {', '.join(names)} into {path}")


for _part in PARTS_HELP:
    _add_part_command(_part)


@main.command(name="memory-arm")
@click.argument("arms", nargs=-1, required=True)
@quick_option
def memory_arm(arms, quick):
    """(Used by `memory`.) Train each of ARMS a few steps here; print one JSON line per arm."""
    from benchmarks.arms import ARM_NAMES, Settings
    from benchmarks.memory import measure_arm

    for arm in arms:
        if arm not in ARM_NAMES:
            raise click.BadParameter(f"{arm!r}; choose from {', '.join(ARM_NAMES)}.", param_hint="ARMS")
    for arm in arms:
        click.echo(json.dumps({"arm": arm, **measure_arm(arm, Settings.get(quick))}))


@main.command()
@out_option
@click.option("--quick", is_flag=True, help="Report on the quick results directory.")
@click.option("--update-docs", is_flag=True, help="Rewrite the benchmark block of README.md and docs/benchmarks.md.")
def report(out, quick, update_docs):
    """Markdown table and plots from the results JSON."""
    _report(out, quick, update_docs)


def _quick_results_in(out):
    """Whether any results JSON in `out` comes from a quick run (read before TensorFlow loads)."""
    for name in sorted(os.listdir(out)):
        if name.endswith(".json"):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                if json.load(f).get("quick"):
                    return True
    return False


def _report(out, quick, update_docs):
    out = _out(out, quick)
    if update_docs and _quick_results_in(out):
        raise click.UsageError("Refusing to put quick-mode results into the README and docs.")
    from benchmarks.report import load_results, render_markdown, update_documents, write_plots
    from keras_adapters.utils.atomic import atomic_file

    results = load_results(out)
    write_plots(results, out)
    markdown = render_markdown(results, "")
    with atomic_file(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
        f.write("# keras-adapters benchmarks\n\n" + markdown)
    if update_docs:
        update_documents(results, out, REPO_ROOT)
    click.echo(markdown)


#: The arm the quick run re-measures through `compare --arms` (a cheap one).
QUICK_PARTIAL_ARM = "ia3"


@main.command(name="all")
@quick_option
@out_option
@seeds_option
def run_all(quick, out, seeds):
    """Every part, each in its own process, then report.

    The quick run runs the parts one after another in this process (the
    memory part still starts its own): its numbers only show that the code
    runs, and one TensorFlow start instead of one per part keeps it short.
    It then re-measures one arm with `compare --arms` (`QUICK_PARTIAL_ARM`),
    so the partial re-run and its merge run wherever the quick run does.
    """
    out = _out(out, quick)
    started = time.time()
    for part in PARTS_HELP:
        if quick:
            _log(f"== part {part} (in this process)")
            _run_part(part, quick, out, seeds)
            continue
        command = [sys.executable, "-m", "benchmarks", part, "--out", out]
        command += ["--seeds", str(seeds)] if seeds is not None and part in SEEDED_PARTS else []
        _log(f"$ {' '.join(command[1:])}")
        subprocess.run(command, check=True, cwd=REPO_ROOT)
    if quick:
        _log(f"== compare --arms {QUICK_PARTIAL_ARM} (a partial re-run, merged into compare.json)")
        _run_part("compare", quick, out, seeds, arms=QUICK_PARTIAL_ARM)
    _write_json(os.path.join(out, "run.json"), {
        "command": "make bench-quick" if quick else "make bench",
        "duration_seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    if quick:
        _report(out, quick, update_docs=False)
    else:
        command = [sys.executable, "-m", "benchmarks", "report", "--out", out, "--update-docs"]
        subprocess.run(command, check=True, cwd=REPO_ROOT)


if __name__ == "__main__":
    main()
