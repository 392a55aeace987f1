"""What `keras-adapters tune` writes in its output directory, and how it is recognised.

A search directory holds `results.json` (with a format marker), `results.csv`,
`results.png`, the keras-tuner project `trials/` and the best trial as a run
directory `best/`. `--overwrite` replaces a directory only when
`results.json` says keras-adapters wrote it and nothing else is there.
"""

import os

from keras_adapters.training.output_dir import OutputLayout
from keras_adapters.tuning.config import BEST_DIR
from keras_adapters.tuning.results import RESULTS_CSV, RESULTS_JSON, RESULTS_PLOT

__all__ = ["SEARCH_FORMAT", "SEARCH_LAYOUT", "TRIALS_DIR", "holds_search", "where_results_are"]

TRIALS_DIR = "trials"
SEARCH_FORMAT = "keras-adapters/adapter-search"


def _is_search_record(record):
    """Whether a parsed `results.json` was written by `tune_text_classifier`."""
    if "format" in record:
        return record["format"] == SEARCH_FORMAT
    # Searches written before the format marker: the fields always stored.
    return (
        isinstance(record.get("settings"), dict)
        and isinstance(record.get("trials"), list)
        and "objective" in record
        and "backbone_fingerprint" in record
    )


# What `tune` writes in its output directory: replaced by `--overwrite` only
# if `results.json` says keras-adapters wrote it and nothing else is there.
SEARCH_LAYOUT = OutputLayout(
    kind="search",
    record_file=RESULTS_JSON,
    is_record=_is_search_record,
    entries=(RESULTS_JSON, RESULTS_CSV, RESULTS_PLOT, TRIALS_DIR, BEST_DIR),
)


def holds_search(output_dir):
    """Whether `output_dir` holds an earlier search (anything at all)."""
    return os.path.isdir(output_dir) and bool(os.listdir(output_dir))


def where_results_are(output_dir):
    """Where the per-trial results of a search that stopped early end up."""
    if holds_search(output_dir):
        return (
            f"The earlier search in {output_dir} was left unchanged (this search's "
            "results were discarded)."
        )
    return f"Per-trial details are in {os.path.join(output_dir, RESULTS_JSON)}."
