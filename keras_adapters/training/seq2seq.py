"""Training and evaluating an adapted BART on (source, target) pairs.

`train_seq2seq` is what `keras-adapters train --task seq2seq` runs: a
random-initialised BART (`keras_adapters.tasks.seq2seq`; no pretrained BART
weights install offline) with GPT-2's real byte-pair vocabulary, adapters
(or, with `adapter="full"`, every weight trained: the reference arm), `fit`
with teacher forcing, then greedy `generate` on the test pairs scored with
ROUGE. It writes the output directory atomically: `metrics.json` (its
record: format `SEQ2SEQ_RUN_FORMAT`) and, for adapters, the adapter
(`save_adapters`) in `adapter/`. An earlier seq2seq run there is replaced
only with `overwrite`; a directory holding anything else is refused.
"""

import os
import time

import numpy as np

from keras_adapters.data.gpt2_vocabulary import bart_tokenizer
from keras_adapters.defaults import DEFAULT_PRESET
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.data.seq2seq import load_seq2seq_dataset
from keras_adapters.saving import save_adapters
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks.seq2seq import compile_seq2seq, random_bart_backbone, seq2seq_lm
from keras_adapters.training.output_dir import OutputLayout, prepare_output_dir
from keras_adapters.training.seq2seq_metrics import rouge_scores
from keras_adapters.utils.atomic import atomic_directory, atomic_write_json
from keras_adapters.utils.parameters import count_parameters

__all__ = ["FULL_TRAINING", "as_features", "generate_texts", "evaluate_seq2seq", "train_seq2seq"]

#: The `adapter` value that trains every weight instead of adding adapters.
FULL_TRAINING = "full"
METRICS_FILE = "metrics.json"
ADAPTER_DIR = "adapter"
SEQ2SEQ_RUN_FORMAT = "keras-adapters/seq2seq-run"
SEQ2SEQ_LAYOUT = OutputLayout(
    kind="seq2seq run", record_file=METRICS_FILE,
    is_record=lambda record: record.get("format") == SEQ2SEQ_RUN_FORMAT,
    entries=(METRICS_FILE, ADAPTER_DIR),
)


def as_features(pairs):
    """`BartSeq2SeqLM` inputs (`encoder_text`, `decoder_text`) of `(source, target)` pairs."""
    return {"encoder_text": [s for s, _ in pairs], "decoder_text": [t for _, t in pairs]}


def generate_texts(lm, sources, *, max_length, batch_size=32):
    """Greedy (or the compiled sampler's) outputs for `sources`, in batches.

    Args:
        lm: a compiled `BartSeq2SeqLM` with a preprocessor.
        sources: list of source strings.
        max_length: the longest output, in decoder tokens.
        batch_size: sources per `generate` call.

    Returns:
        List of generated strings, one per source.
    """
    outputs = []
    for start in range(0, len(sources), batch_size):
        generated = lm.generate(list(sources[start:start + batch_size]), max_length=max_length)
        outputs.extend(str(text) for text in np.ravel(generated))
    return outputs


def evaluate_seq2seq(lm, pairs, *, max_length, batch_size=32):
    """Teacher-forced loss and ROUGE of generated outputs on `pairs`.

    Returns:
        Dict with `loss` (mean token cross-entropy) and `rouge1`,
        `rouge2`, `rougeL` (F1 x100), plus `examples`: the first three
        `(source, reference, generated)` triples.
    """
    loss = lm.evaluate(as_features(pairs), batch_size=batch_size, verbose=0, return_dict=True)["loss"]
    generated = generate_texts(lm, [s for s, _ in pairs], max_length=max_length, batch_size=batch_size)
    scores = rouge_scores(generated, [t for _, t in pairs])
    examples = [(s, t, g) for (s, t), g in zip(pairs[:3], generated[:3])]
    return {"loss": float(loss), **scores, "examples": examples}


def train_seq2seq(config, log=print, tokenizer=None, model_size=None, placements=None,
                  max_test_examples=None):
    """Trains and tests a random-initialised BART on a seq2seq dataset.

    Args:
        config: a `keras_adapters.training.TrainConfig` (fields used:
            `dataset`, `test_data`, `output_dir`, `overwrite`, `adapter`
            (a preset, or `"full"`), `bottleneck_size`, `epochs`,
            `batch_size`, `sequence_length` (source tokens; targets get
            half), `learning_rate`, `seed`, `max_train_examples`).
        log: called with progress lines.
        tokenizer: a `BartTokenizer` (default: `bart_tokenizer()`, GPT-2's
            real vocabulary).
        model_size: dict of `random_bart_backbone` arguments (default:
            2 + 2 blocks of width 64).
        placements: adapter placements (default: the preset's), e.g.
            `("attention", "cross_attention", "feedforward")`.
        max_test_examples: score only the first this many test pairs.

    Returns:
        The metrics dict written to `metrics.json`.

    Raises:
        KerasAdaptersError: for a bad dataset, vocabulary or setting, or a
            `preset` other than the default (the BART is random-initialised).
    """
    config.validate()
    if config.preset != DEFAULT_PRESET:
        raise KerasAdaptersError(
            f"--task seq2seq trains a random-initialised BART (no pretrained BART weights install "
            f"offline), so it takes no --preset (got {config.preset!r}); leave it unset.")
    output_dir = prepare_output_dir(config.output_dir, config.overwrite, layout=SEQ2SEQ_LAYOUT)
    data = load_seq2seq_dataset(config.dataset, test_spec=config.test_data,
                                max_train_examples=config.max_train_examples, seed=config.seed)
    test = (data.test if data.test is not None else data.validation)[:max_test_examples]
    # Here: seq2seq_run imports this module.
    from keras_adapters.training.seq2seq_run import seq2seq_run_record

    given_tokenizer, tokenizer = tokenizer, tokenizer or bart_tokenizer()
    source_length, target_length = config.sequence_length, max(8, config.sequence_length // 2)
    backbone = random_bart_backbone(
        tokenizer.vocabulary_size(), max_sequence_length=source_length, seed=config.seed,
        **(model_size or {}))
    if config.adapter == FULL_TRAINING:
        adapted = backbone
    else:
        overrides = {} if config.bottleneck_size is None else {"bottleneck_size": config.bottleneck_size}
        if placements is not None:
            overrides["placements"] = tuple(placements)
        adapted = add_adapters(backbone, config.adapter, **overrides)
    lm = seq2seq_lm(adapted, tokenizer, source_length=source_length, target_length=target_length)
    compile_seq2seq(lm, config.learning_rate)
    parameters = count_parameters(lm)
    log(f"random-initialised BART, {parameters.trainable:,} of {parameters.total:,} "
        f"parameters trained ({config.adapter}); data {data.num_examples}")
    started = time.perf_counter()
    history = lm.fit(as_features(data.train), validation_data=as_features(data.validation),
                     epochs=config.epochs, batch_size=config.batch_size, verbose=0)
    seconds = time.perf_counter() - started
    results = evaluate_seq2seq(lm, test, max_length=target_length, batch_size=config.batch_size)
    log(f"test: loss {results['loss']:.3f}, ROUGE-1 {results['rouge1']:.1f}, "
        f"ROUGE-2 {results['rouge2']:.1f}, ROUGE-L {results['rougeL']:.1f}")
    metrics = {
        "format": SEQ2SEQ_RUN_FORMAT, "task": "seq2seq", "dataset": data.name, "adapter": config.adapter,
        "num_examples": data.num_examples,
        "parameters": {"trainable": parameters.trainable, "total": parameters.total},
        "train_seconds": seconds, "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test": results,
        # How `load_run` builds the model again (config, seed, sizes, tokenizer).
        **seq2seq_run_record(config, backbone, given_tokenizer, source_length, target_length),
    }
    with atomic_directory(output_dir, overwrite=True) as directory:
        if config.adapter != FULL_TRAINING:
            save_adapters(adapted, os.path.join(directory, ADAPTER_DIR))
        atomic_write_json(os.path.join(directory, METRICS_FILE), metrics)
    log(f"run written to {output_dir}")
    return metrics

