"""Partial re-runs: measure some arms again and merge them into existing results.

`python -m benchmarks compare --arms lora_ka,ia3` (and `memory --arms ...`)
measures only the named arms and merges their records into the part's JSON
file in `--out`, keeping every other arm's record as it was. A comparison
times the named arms interleaved with full fine-tuning (`run_compare`), so
their speed-ups, latency ratios and equal-time budgets are against full
fine-tuning's step as measured in the same rounds, like every arm of a whole
run. Each arm's record says which run measured it (`measured_in`), and the
file lists the partial runs (`partial_runs`) for the report.

Merging refuses results of another setting (quick against full, another
backbone, data or recipe): their arms would not be comparable.
"""

import json
import os

from benchmarks.arms import ARM_NAMES
from keras_adapters.errors import KerasAdaptersError

#: Setup fields of `compare.json` that must match for two runs' arms to be compared.
COMPARE_SETUP_KEYS = (
    "backbone", "dataset", "sequence_length", "batch_size", "epochs", "seed", "jit_compile",
)


def parse_arms(text):
    """The arms named in `--arms` ("a,b,c"), checked, in `ARM_NAMES` order.

    Raises:
        KerasAdaptersError: for an empty list or an unknown arm.

    Example:

    >>> from benchmarks.partial import parse_arms
    >>> parse_arms("parallel, ia3")
    ('ia3', 'parallel')
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ARM_NAMES]
    if not names or unknown:
        raise KerasAdaptersError(
            f"Invalid --arms {text!r}{': unknown ' + ', '.join(unknown) if unknown else ''}. "
            f"Allowed: a comma-separated list of {', '.join(ARM_NAMES)}."
        )
    return tuple(arm for arm in ARM_NAMES if arm in names)


def _settings_setup(settings):
    return {
        "backbone": settings.backbone_description,
        "dataset": settings.dataset,
        "sequence_length": settings.sequence_length,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "seed": settings.seed,
        "jit_compile": settings.jit_compile,
    }


def load_existing(path, part, settings):
    """The results file a partial run of `part` merges into, checked against `settings`.

    Called before anything is measured, so a mismatch costs nothing.

    Args:
        path: the part's JSON file in `--out`.
        part: "compare" or "memory".
        settings: the `Settings` of the partial run.

    Returns:
        The file's dict.

    Raises:
        KerasAdaptersError: when the file is missing, or was measured in
            another mode (quick or full) or, for the comparison, another
            setup (backbone, data set, sequence length, batch, epochs, seed).
    """
    if not os.path.exists(path):
        raise KerasAdaptersError(
            f"--arms merges into existing results, but {path} does not exist: run "
            f"`python -m benchmarks {part}{' --quick' if settings.quick else ''}` (all arms) first."
        )
    with open(path, encoding="utf-8") as f:
        existing = json.load(f)
    mode = {True: "quick", False: "full"}
    if bool(existing.get("quick")) != settings.quick:
        raise KerasAdaptersError(
            f"{path} holds {mode[bool(existing.get('quick'))]}-mode results and this is a "
            f"{mode[settings.quick]}-mode run: their arms are not comparable. Use "
            f"{'--quick' if existing.get('quick') else 'no --quick'} or another --out."
        )
    if part == "compare":
        if "steps_per_epoch" not in existing["setup"]:
            raise KerasAdaptersError(
                f"{path} predates the equal-time comparison (no steps_per_epoch): re-run all arms."
            )
        setup, expected = existing["setup"], _settings_setup(settings)
        different = [key for key in COMPARE_SETUP_KEYS if setup.get(key) != expected[key]]
        if different:
            raise KerasAdaptersError(
                f"{path} was measured with another setup ("
                + ", ".join(f"{key} {setup.get(key)!r}, now {expected[key]!r}" for key in different)
                + "): its arms are not comparable with this run's. Re-run all arms, or use another --out."
            )
    return existing


def merge_compare(existing, partial):
    """`existing` compare results with the arms of a partial `run_compare` result replacing or added.

    Args:
        existing: the `compare.json` dict (from `load_existing`).
        partial: what `run_compare(settings, arms=...)` returned.

    Returns:
        A new dict: the existing run's machine, setup and duration, the arms
        in `ARM_NAMES` order, and `partial_runs` with this run appended
        (its arms, commit, duration and full fine-tuning's timing in it).

    Raises:
        KerasAdaptersError: when the data differ (examples, steps per epoch).
    """
    for key in ("examples", "steps_per_epoch"):
        if existing["setup"][key] != partial["setup"][key]:
            raise KerasAdaptersError(
                f"The existing compare.json has {key} {existing['setup'][key]!r}, this run "
                f"{partial['setup'][key]!r}: the data changed, so the arms are not comparable."
            )
    from benchmarks.compare import add_storage_shares

    arms = {**existing["arms"], **partial["arms"]}
    merged = {
        **existing,
        "arms": {arm: arms[arm] for arm in ARM_NAMES if arm in arms},
        "partial_runs": existing.get("partial_runs", []) + [_partial_run(partial)],
    }
    if "full" in merged["arms"]:
        add_storage_shares(merged)
    return merged


def start_compare(partial):
    """A new `compare.json` dict holding only the arms of a partial `run_compare` result.

    The first piece of a comparison run in pieces (`compare --arms ... --new`):
    later pieces merge into it (`merge_compare`). It lists itself in
    `partial_runs`, like the pieces after it.
    """
    return {**partial, "in_pieces": True, "partial_runs": [_partial_run(partial)]}


def _partial_run(partial):
    """The `partial_runs` entry of a partial `run_compare` result."""
    first = next(iter(partial["arms"].values()))
    return {
        "arms": list(partial["arms"]),
        "command": first["measured_in"]["command"],
        "started": first["measured_in"]["started"],
        "git_commit": partial["machine"]["git_commit"],
        "machine": partial["machine"],
        "duration_seconds": partial["duration_seconds"],
        "full_timing": partial["full_timing"],
    }


def merge_memory(existing, partial):
    """`existing` memory results with the arms of a partial `run_memory` result replacing or added."""
    arms = {**existing["arms"], **partial["arms"]}
    return {
        **existing,
        "arms": {arm: arms[arm] for arm in ARM_NAMES if arm in arms},
        "partial_runs": existing.get("partial_runs", []) + [{
            "arms": list(partial["arms"]),
            "git_commit": partial["machine"]["git_commit"],
            "duration_seconds": partial["duration_seconds"],
        }],
    }


#: Parts that take `--arms`, and how their partial results merge.
MERGERS = {"compare": merge_compare, "memory": merge_memory}
