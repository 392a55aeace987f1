"""Reading a seq2seq run directory back: `LoadedSeq2Seq`.

`train_seq2seq` writes `metrics.json` and the adapter; the record's
`config` and `model` entries (`seq2seq_run_record`) say how the model was
built. The base BART is random-initialised and not saved (only the adapter
is): it is built again from its recorded config and seed, and must match the
adapter file's digest of the frozen weights, so an adapter is never loaded
onto another base. That holds with
the Keras version and backend the run was trained with; elsewhere the
rebuilt weights differ and loading stops, saying so.

`keras_adapters.training.load_run` returns a `LoadedSeq2Seq` for such a run
(`keras-adapters predict` and `evaluate` use it).
"""

import dataclasses
import os

import keras
import keras_hub

from keras_adapters.data.gpt2_vocabulary import bart_tokenizer
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving import load_adapters, read_adapter_file
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks.seq2seq import (
    compile_seq2seq,
    random_bart_backbone,
    seq2seq_lm,
)
from keras_adapters.training.output_dir import RunError
from keras_adapters.training.run_directory import library_versions
from keras_adapters.training.seq2seq import (
    ADAPTER_DIR,
    FULL_TRAINING,
    evaluate_seq2seq,
    generate_texts,
)
from keras_adapters.utils.fingerprint import weights_fingerprint

__all__ = ["LoadedSeq2Seq", "load_seq2seq_run", "seq2seq_run_record"]

#: `random_bart_backbone` arguments recorded from the backbone's config.
BACKBONE_FIELDS = ("vocabulary_size", "hidden_dim", "num_layers", "num_heads", "intermediate_dim",
                   "max_sequence_length", "dropout")
#: The `model.tokenizer` value of a run on GPT-2's vocabulary (`bart_tokenizer()`).
GPT2_TOKENIZER = "gpt2"


@dataclasses.dataclass
class LoadedSeq2Seq:
    """A trained adapted BART rebuilt from a seq2seq run directory.

    Attributes:
        lm: the compiled `keras_hub.models.BartSeq2SeqLM`; its backbone
            carries the run's adapter, active.
        target_length: the longest output, in decoder tokens, as trained.
        info: the parsed `metrics.json` (`info["task"] == "seq2seq"`).
    """

    lm: keras.Model
    target_length: int
    info: dict

    def generate(self, texts, batch_size=32):
        """The greedy output (through the adapters) for each source text.

        Args:
            texts: list of source strings.
            batch_size: sources per `generate` call.

        Returns:
            A list of strings, one per text.
        """
        return generate_texts(self.lm, list(texts), max_length=self.target_length,
                              batch_size=batch_size)

    def evaluate(self, pairs, batch_size=32):
        """Loss and ROUGE on `(source, target)` pairs (`evaluate_seq2seq`).

        Returns:
            Its dict (`loss`, `rouge1`, `rouge2`, `rougeL`, `examples`)
            plus `num_examples`.

        Raises:
            KerasAdaptersError: if `pairs` is empty.
        """
        pairs = list(pairs)
        if not pairs:
            raise KerasAdaptersError("There are no (source, target) pairs to score.")
        scores = evaluate_seq2seq(self.lm, pairs, max_length=self.target_length,
                                  batch_size=batch_size)
        return {**scores, "num_examples": len(pairs)}


def seq2seq_run_record(config, backbone, tokenizer, source_length, target_length):
    """What a seq2seq run's `metrics.json` records to be loaded again.

    `train_seq2seq` adds these entries to its record.

    Args:
        config: the run's `TrainConfig`.
        backbone: the random-initialised `BartBackbone`, built by
            `random_bart_backbone(..., seed=config.seed)`.
        tokenizer: the `BartTokenizer` passed to `train_seq2seq`, or None
            for the default (GPT-2's vocabulary, recorded by name; another
            tokenizer's vocabulary and merges are recorded whole).
        source_length: encoder tokens.
        target_length: decoder tokens.

    Returns:
        Dict with `config` (the settings) and `model` (what builds the
        model again).

    Example:

    >>> from keras_adapters.tasks.seq2seq import random_bart_backbone
    >>> from keras_adapters.training import TrainConfig
    >>> from keras_adapters.training.seq2seq_run import seq2seq_run_record
    >>> backbone = random_bart_backbone(10, hidden_dim=8, num_layers=1, max_sequence_length=8, seed=0)
    >>> record = seq2seq_run_record(TrainConfig(task="seq2seq"), backbone, None, 8, 8)
    >>> record["model"]["backbone"]["hidden_dim"], record["model"]["tokenizer"]
    (8, 'gpt2')
    """
    backbone_config = backbone.get_config()
    return {
        "config": dataclasses.asdict(config),
        "model": {
            "backbone": {field: backbone_config[field] for field in BACKBONE_FIELDS},
            "seed": config.seed,
            "source_length": source_length,
            "target_length": target_length,
            "tokenizer": GPT2_TOKENIZER if tokenizer is None else {
                "vocabulary": dict(tokenizer.vocabulary), "merges": list(tokenizer.merges)},
            # Seeded initialisation is reproducible only with the same versions and backend.
            "backend": keras.config.backend(),
            "versions": library_versions(),
        },
    }


def load_seq2seq_run(run_dir, info):
    """Rebuilds the adapted BART of a seq2seq run directory (`load_run` calls it).

    Builds the base BART again with `random_bart_backbone(..., seed=...)`,
    which calls `keras.utils.set_random_seed` (Python, NumPy and backend
    seeds are set as when it was trained).

    Args:
        run_dir: a directory written by `train_seq2seq` with adapters.
        info: its parsed `metrics.json`.

    Returns:
        A `LoadedSeq2Seq`.

    Raises:
        RunError: for a `--adapter full` run (it keeps no weights), a
            record without the `config`/`model` entries (an older run) or
            with wrong ones, a missing adapter, or a rebuilt base whose
            weights differ from those the adapter was trained on.
        KerasAdaptersError: if the adapter files fail verification.
    """
    if info.get("adapter") == FULL_TRAINING:
        raise RunError(
            f"{run_dir!r} is a seq2seq run with --adapter {FULL_TRAINING}: it trained every weight "
            "of a random BART as the comparison arm and keeps only its metrics, so there is no "
            "model to load. Predict and evaluate with a run trained with adapters (e.g. --adapter "
            "houlsby).")
    model, config = info.get("model"), info.get("config")
    problem = _record_problem(model, config)
    if problem:
        raise RunError(
            f"The metrics.json of {run_dir!r} cannot rebuild its model: {problem}. Runs written "
            "before seq2seq runs could be loaded again lack these entries; train again.")
    adapter_dir = os.path.join(run_dir, ADAPTER_DIR)
    if not os.path.isdir(adapter_dir):
        raise RunError(f"{run_dir!r} has no {ADAPTER_DIR}/ folder: the adapter of this seq2seq run "
                       "is missing. Restore the run directory from a copy, or train again.")
    # Before building the model: bad files are found in milliseconds.
    document = read_adapter_file(adapter_dir)
    tokenizer = _tokenizer(model["tokenizer"])
    if tokenizer.vocabulary_size() != model["backbone"]["vocabulary_size"]:
        raise RunError(
            f"The tokenizer of {run_dir!r} has {tokenizer.vocabulary_size():,} tokens but its model "
            f"was built for {model['backbone']['vocabulary_size']:,}; the GPT-2 vocabulary files "
            "differ from those it was trained with.")
    backbone = random_bart_backbone(**model["backbone"], seed=model["seed"])
    if weights_fingerprint(backbone, frozen_only=True) != document["backbone"].get(
            "frozen_weights_sha256"):
        raise RunError(
            f"The random BART of {run_dir!r}, built again from seed {model['seed']}, has other "
            "weights than the one its adapter was trained on, so the adapter would not fit. It was "
            f"trained on the {model.get('backend')} backend with {model.get('versions')}; this is "
            f"{keras.config.backend()} with {library_versions()}. Use that backend and those "
            "versions, or train again.")
    adapted = add_adapters(backbone, document["adapter_config"], name=document["adapter_name"])
    load_adapters(adapted, adapter_dir)
    lm = seq2seq_lm(adapted, tokenizer, source_length=model["source_length"],
                    target_length=model["target_length"])
    # Compiled for `generate`'s sampler and `evaluate`'s loss; the optimizer is never stepped.
    compile_seq2seq(lm, config.get("learning_rate") or 1e-3)
    return LoadedSeq2Seq(lm, model["target_length"], info)


def _record_problem(model, config):
    """What is wrong with a record's `model` and `config` entries, or None."""
    if not isinstance(model, dict) or not isinstance(config, dict):
        return "it has no `model` and `config` entries"
    backbone = model.get("backbone")
    if not isinstance(backbone, dict) or sorted(backbone) != sorted(BACKBONE_FIELDS):
        return f"`model.backbone` must hold {', '.join(BACKBONE_FIELDS)}"
    for field in ("seed", "source_length", "target_length"):
        if not isinstance(model.get(field), int) or isinstance(model.get(field), bool):
            return f"`model.{field}` must be an integer"
    tokenizer = model.get("tokenizer")
    if tokenizer != GPT2_TOKENIZER and not (
            isinstance(tokenizer, dict) and isinstance(tokenizer.get("vocabulary"), dict)
            and isinstance(tokenizer.get("merges"), list)):
        return (f"`model.tokenizer` must be {GPT2_TOKENIZER!r} or an object with `vocabulary` "
                "and `merges`")
    return None


def _tokenizer(recorded):
    if recorded == GPT2_TOKENIZER:
        return bart_tokenizer()
    return keras_hub.models.BartTokenizer(vocabulary=recorded["vocabulary"], merges=recorded["merges"])
