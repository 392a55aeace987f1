"""Extractive question answering: span mapping, decoding, SQuAD metrics, training, CLI."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import add_adapters
from keras_adapters.cli.main import main
from keras_adapters.data import DataError
from keras_adapters.data.qa_encoding import (
    decode_answers,
    encode_qa,
    word_piece_offsets,
)
from keras_adapters.data.question_answering import (
    QAExample,
    load_qa_dataset,
    read_qa_file,
)
from keras_adapters.tasks import SpanQuestionAnswerer
from keras_adapters.training.qa_metrics import (
    exact_match,
    normalize_answer,
    squad_scores,
    token_f1,
)

from helpers import make_tiny_preset

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the of is in was by who what where when city river capital built wrote founded "
         "paris rome berlin vienna ana bo cy dee 1889 1905 tower bridge museum , . ? - "
         "eiffel louvre cafe ##s ##er").split()


def tokenizer(lowercase=True, strip_accents=True):
    return keras_hub.models.BertTokenizer(vocabulary=SPECIALS + WORDS, lowercase=lowercase,
                                          strip_accents=strip_accents)


def span_text(example, encoded, row):
    start, end = encoded.start_positions[row], encoded.end_positions[row]
    return example.context[encoded.offsets[row, start, 0]: encoded.offsets[row, end, 1]]


# --- span mapping -------------------------------------------------------------------------


@pytest.mark.parametrize("context, answer", [
    ("The Eiffel Tower, in Paris, was built in 1889.", "Paris"),
    ("The Eiffel Tower, in Paris, was built in 1889.", "1889"),
    ("Towers of Rome: the Café Louvre-Towers.", "Café Louvre-Towers"),  # accent, hyphen, ##s
    ("Wrote by  Ana   Bo\tin Vienna, 1905.", "Ana   Bo"),  # odd whitespace inside the answer
    ("The Zorblax bridge of Berlin.", "Zorblax bridge"),  # an [UNK] word at the answer's start
])
def test_answer_char_span_maps_to_tokens_and_back(context, answer):
    example = QAExample(context, "What is it?", (answer,), (context.index(answer),))
    encoded = encode_qa(tokenizer(), [example], sequence_length=32)
    assert encoded.start_positions[0] > 0  # not the [CLS] "no answer" label
    assert span_text(example, encoded, 0) == answer
    # The labelled tokens are context tokens (segment 1), inside the padding mask.
    assert encoded.features["segment_ids"][0, encoded.start_positions[0]] == 1
    assert encoded.features["padding_mask"][0, encoded.end_positions[0]] == 1


def test_offsets_follow_the_tokenizers_pieces():
    ids, offsets = word_piece_offsets(tokenizer(), "Towers, café!")
    pieces = [tokenizer().id_to_token(i) for i in ids]
    assert pieces == ["tower", "##s", ",", "cafe", "[UNK]"]
    assert offsets == [(0, 5), (5, 6), (6, 7), (8, 12), (12, 13)]


def test_long_context_is_read_in_windows_and_labelled_where_the_answer_is_whole():
    filler = " ".join(["the city of rome"] * 12)
    context = f"{filler} the tower was built in 1889 by ana . {filler}"
    example = QAExample(context, "when was the tower built ?", ("1889",), (context.index("1889"),))
    encoded = encode_qa(tokenizer(), [example], sequence_length=24, stride=4)
    windows = len(encoded.example_index)
    assert windows > 5 and set(encoded.example_index) == {0}
    holding = [row for row in range(windows) if encoded.start_positions[row] > 0]
    # Windows without the whole answer are labelled with [CLS] (0) for start and end.
    assert 0 < len(holding) < windows
    assert all(encoded.end_positions[row] == 0 for row in set(range(windows)) - set(holding))
    assert all(span_text(example, encoded, row) == "1889" for row in holding)
    # Every context piece is in some window: the last window ends with the context.
    last = encoded.offsets[-1, :, 1].max()
    assert last == len(context)
    # Decoding over all windows finds the answer from one-hot logits on its tokens.
    start = np.full((windows, 24), -5.0)
    end = np.full((windows, 24), -5.0)
    row = holding[-1]
    start[row, encoded.start_positions[row]] = end[row, encoded.end_positions[row]] = 5.0
    answers, scores = decode_answers(start, end, encoded, [example])
    assert answers == ["1889"] and scores == [10.0]


def test_unanswerable_question_is_labelled_with_cls():
    example = QAExample("the tower is in paris .", "who wrote it ?")
    encoded = encode_qa(tokenizer(), [example], sequence_length=24)
    assert encoded.start_positions.tolist() == [0] and encoded.end_positions.tolist() == [0]


def test_sequence_too_short_for_the_question_is_refused():
    example = QAExample("the tower is in paris .", "who wrote the tower of the city ?")
    with pytest.raises(ValueError, match="sequence_length"):
        encode_qa(tokenizer(), [example], sequence_length=12)


# --- decoding -----------------------------------------------------------------------------


def test_decoding_never_returns_an_end_before_its_start_or_a_too_long_span():
    context = "ana bo cy dee paris"
    example = QAExample(context, "who ?")
    encoded = encode_qa(tokenizer(), [example], sequence_length=16)
    first = 4  # after [CLS] who ? [SEP]
    start = np.zeros((1, 16))
    end = np.zeros((1, 16))
    start[0, first + 3] = 9.0  # "dee"
    end[0, first + 1] = 9.0    # "bo": before the start, never chosen with it
    end[0, first + 4] = 1.0    # "paris"
    answers, _ = decode_answers(start, end, encoded, [example])
    assert answers == ["dee paris"]
    # Spans longer than the limit are not considered: singles are ana 8, bo 9, dee 9.5,
    # paris 8.5; pairs of two tokens add ana-bo 17 and dee-paris 18.
    start[0, first], start[0, first + 3], end[0, first + 4] = 8.0, 9.5, 8.5
    assert decode_answers(start, end, encoded, [example], max_answer_tokens=1)[0] == ["dee"]
    assert decode_answers(start, end, encoded, [example], max_answer_tokens=2)[0] == ["dee paris"]


# --- metrics -------------------------------------------------------------------------------


def test_squad_normalisation_exact_match_and_f1_by_hand():
    assert normalize_answer("  The Cat's   hat, an A-Team!") == "cats hat ateam"
    assert exact_match("the Eiffel tower.", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    # precision 1/1, recall 1/2 -> 2/3
    assert token_f1("Eiffel", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    # repeated words count as often as they occur in both: common 1, P 1/2, R 1/1
    assert token_f1("paris paris", ["Paris"]) == pytest.approx(2 / 3)
    # the best gold answer counts
    assert token_f1("in 1889", ["1889", "the year 1889"]) == pytest.approx(2 / 3)
    assert token_f1("London", ["Paris"]) == 0.0
    assert exact_match("", []) == token_f1("", []) == 1.0
    assert exact_match("paris", []) == token_f1("paris", []) == 0.0
    scores = squad_scores(["Eiffel", "1889", "London"], [["Eiffel Tower"], ["1889"], ["Paris"]])
    assert scores == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 * (2 / 3 + 1) / 3),
                      "num_examples": 3}
    with pytest.raises(ValueError, match="one prediction per example"):
        squad_scores(["a"], [])


# --- files ---------------------------------------------------------------------------------


def test_files_are_read_in_both_forms_and_misaligned_answers_refused(tmp_path):
    squad = {"data": [{"title": "t", "paragraphs": [{"context": "The tower is in Paris.", "qas": [
        {"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 16}]},
        {"id": "q2", "question": "Who?", "answers": [], "is_impossible": True}]}]}]}
    (tmp_path / "dev.json").write_text(json.dumps(squad))
    examples = read_qa_file(f"squad:{tmp_path / 'dev.json'}")
    assert [(e.id, e.answers, e.answer_starts) for e in examples] == [
        ("q1", ("Paris",), (16,)), ("q2", (), ())]
    bad = {"context": "The tower is in Paris.", "question": "Where?",
           "answers": {"text": ["Paris"], "answer_start": [15]}}
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"line 1: the answer 'Paris' is not at character 15"):
        read_qa_file(f"jsonl:{tmp_path / 'bad.jsonl'}")
    with pytest.raises(DataError, match="'jsonl:PATH'"):
        read_qa_file("csv:x.csv")


def write_qa_jsonl(path, count=40):
    """Questions about who built what where: the answer is a name or a city."""
    names, cities = ["ana", "bo", "cy", "dee"], ["paris", "rome", "berlin", "vienna"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            name, city = names[i % 4], cities[(i // 4) % 4]
            thing = ["tower", "bridge", "museum"][i % 3]
            context = f"the {thing} of {city} was built by {name} in {1889 if i % 2 else 1905} ."
            if i % 2:
                question, answer = f"who built the {thing} ?", name
            else:
                question, answer = f"where is the {thing} ?", city
            start = context.index(f" {answer} ") + 1
            f.write(json.dumps({"id": str(i), "context": context, "question": question,
                                "answers": {"text": [answer], "answer_start": [start]}}) + "\n")
    return str(path)


def test_validation_is_held_out_by_context(tmp_path):
    data = load_qa_dataset("jsonl:" + write_qa_jsonl(tmp_path / "qa.jsonl"), seed=0)
    assert data.num_examples["train"] + data.num_examples["validation"] == 40
    assert not {e.context for e in data.train} & {e.context for e in data.validation}


# --- model ---------------------------------------------------------------------------------


def test_tiny_model_trains_with_fit_and_its_loss_falls(tmp_path):
    keras.utils.set_random_seed(0)
    data = load_qa_dataset("jsonl:" + write_qa_jsonl(tmp_path / "qa.jsonl"), seed=0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(SPECIALS + WORDS), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32)
    model = SpanQuestionAnswerer(add_adapters(backbone, bottleneck_size=4))
    encoded = encode_qa(tokenizer(), data.train, sequence_length=24)
    model.compile(learning_rate=1e-2, jit_compile=False)  # XLA adds only compile time here
    history = model.fit(encoded.features, encoded.labels, batch_size=8, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses
    assert "start_logits_accuracy" in history.history
    # Padding positions are never predicted.
    logits = model.predict(encoded.features, verbose=0)
    padding = encoded.features["padding_mask"] == 0
    assert (logits["start_logits"][padding] < -1e8).all()


# --- CLI -----------------------------------------------------------------------------------


def test_cli_trains_evaluates_and_answers_on_a_file_dataset(tmp_path):
    preset = make_tiny_preset(tmp_path / "preset", WORDS)
    dataset = "jsonl:" + write_qa_jsonl(tmp_path / "qa.jsonl")
    run_dir = str(tmp_path / "run")
    runner = CliRunner()
    trained = runner.invoke(main, [
        "train", "--task", "question-answering", "--preset", preset, "--dataset", dataset,
        "--test-data", dataset, "--output-dir", run_dir, "--epochs", "1", "--batch-size", "8",
        "--sequence-length", "24", "--bottleneck", "4"])
    assert trained.exit_code == 0, trained.output
    assert sorted(os.listdir(run_dir)) == ["adapter", "metrics.json", "run.json", "training_curve.png"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert set(metrics[split]) == {"exact_match", "f1", "num_examples"}
        assert 0 <= metrics[split]["exact_match"] <= metrics[split]["f1"] <= 100
    assert json.loads((tmp_path / "run" / "run.json").read_text())["task"] == "question-answering"
    assert "exact match" in trained.output

    evaluated = runner.invoke(main, ["evaluate", run_dir, "--split", "validation"])
    assert evaluated.exit_code == 0, evaluated.output
    assert f"{metrics['validation']['f1']:.2f}%" in evaluated.output

    answered = runner.invoke(main, ["predict", run_dir, "--question", "who built the tower ?",
                                    "--context", "the tower of rome was built by bo in 1905 ."])
    assert answered.exit_code == 0, answered.output
    assert "who built the tower ?" in answered.output
    refused = runner.invoke(main, ["predict", run_dir, "a text"])
    assert refused.exit_code == 1 and "--question and --context" in refused.output

    # `export RUN` writes a start/end-logits signature that TF's C++ loader serves.
    from keras_adapters.export import check_export, read_export_metadata

    exported = runner.invoke(main, ["export", run_dir, "--base-path", str(tmp_path / "serving"),
                                    "--name", "qa"])
    assert exported.exit_code == 0, exported.output
    version_dir = tmp_path / "serving" / "qa" / "1"
    metadata = read_export_metadata(str(version_dir))
    assert metadata["kind"] == "question_answerer" and metadata["metadata"]["task"] == "question-answering"
    assert sorted(metadata["signatures"]["serving_default"]["outputs"]) == ["end_logits", "start_logits"]
    assert check_export(str(version_dir)).passed
    refused = runner.invoke(main, ["export", run_dir, "--base-path", str(tmp_path / "serving"),
                                   "--name", "qa", "--merge"])
    assert refused.exit_code == 1 and "not supported for question-answering" in refused.output
