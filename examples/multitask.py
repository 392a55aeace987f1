"""Two tasks on one frozen MiniLM: sentiment and news topics, then served together.

1. Load the pretrained all-MiniLM-L6-v2 once.
2. Train a "sentiment" adapter + head on Rotten Tomatoes (fresh/rotten).
3. Add a "topic" adapter in place, train it + its head on 20 Newsgroups
   (20 classes); the sentiment adapter stays frozen and untouched.
4. Report both test scores, then classify a mixed batch (reviews and
   newsgroup posts) in ONE call with `BatchSplit`, and check it agrees with
   the single-task predictions.
5. Export one SavedModel with a signature per task (the backbone stored
   once) and check it with TensorFlow's C++ loader.

Adapters that share a backbone must not train its layer norms (each task
would overwrite the others'), so both use Houlsby placements with
`train_layer_norms=False`.

Run:  .venv/bin/python examples/multitask.py            (about 20 minutes on 2 CPU cores)
      .venv/bin/python examples/multitask.py --smoke    (under a minute; what the tests run)

`--smoke` keeps the real data and MiniLM's tokenizer but swaps the backbone
for a tiny random BERT with MiniLM's vocabulary, and uses a few examples.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_adapters  # noqa: E402
from keras_adapters.composition import BatchSplit  # noqa: E402
from keras_adapters.data import load_dataset  # noqa: E402
from keras_adapters.export import check_export, export_multitask_saved_model  # noqa: E402
from keras_adapters.pretrained import load_backbone, load_preprocessor  # noqa: E402
from keras_adapters.tasks import PooledTextClassifier  # noqa: E402
from keras_adapters.training import classification_metrics  # noqa: E402
from keras_adapters.training import tokenized  # noqa: E402
from keras_adapters.utils.sizes import directory_bytes  # noqa: E402


def load_base(smoke):
    """The pretrained all-MiniLM-L6-v2, offline; with --smoke a tiny random BERT of its vocabulary."""
    if smoke:
        return keras_hub.models.BertBackbone(
            vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=32,
            intermediate_dim=64, max_sequence_length=512,
        )
    return load_backbone("minilm_l6")


def train_task(model, data, preprocessor, epochs, batch_size, learning_rate):
    steps = epochs * -(-data.num_examples["train"] // batch_size)
    model.compile(learning_rate=learning_rate, total_steps=steps)  # the recipe, with warm-up
    model.fit(tokenized(data.train, preprocessor, batch_size, shuffle_seed=0), epochs=epochs, verbose=2)


def test_metrics(model, dataset, preprocessor, label_names, limit):
    labels, logits = [], []
    # A seeded sample: the 20 Newsgroups test file is sorted by class, so its
    # first rows would cover a few topics only.
    sample = dataset.shuffle(20000, seed=0).take(limit)
    for features, batch_labels in tokenized(sample, preprocessor, 64):
        logits.append(model.predict_on_batch(features))
        labels.append(np.asarray(batch_labels))
    return classification_metrics(np.concatenate(labels), np.concatenate(logits), label_names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    args = parser.parse_args()
    sizes = (
        dict(rt_train=64, ng_train=64, test=64, epochs=1, rt_length=32, ng_length=32)
        if args.smoke
        else dict(rt_train=None, ng_train=4000, test=2000, epochs=2, rt_length=48, ng_length=128)
    )
    keras.utils.set_random_seed(0)
    started = time.perf_counter()
    base = load_base(args.smoke)
    shared_config = keras_adapters.AdapterConfig.from_preset("houlsby", train_layer_norms=False)

    # Task 1: sentiment.
    reviews = load_dataset("rotten_tomatoes", max_examples=sizes["rt_train"])
    review_preprocessor = load_preprocessor("minilm_l6", sizes["rt_length"])
    backbone = keras_adapters.add_adapters(base, shared_config, name="sentiment")
    del base  # the adapted clone holds the only copy we need
    sentiment = PooledTextClassifier(backbone, len(reviews.label_names), name="sentiment_classifier")
    print("sentiment:", keras_adapters.count_parameters(sentiment))
    train_task(sentiment, reviews, review_preprocessor, sizes["epochs"], 32, 1e-3)

    # Task 2: topics, on the same backbone object.
    news = load_dataset("20newsgroups", max_examples=sizes["ng_train"])
    news_preprocessor = load_preprocessor("minilm_l6", sizes["ng_length"])
    backbone.add_adapter("topic", shared_config)
    backbone.train_adapter("topic")  # everything else frozen, "sentiment" too
    topic = PooledTextClassifier(backbone, len(news.label_names), name="topic_classifier")
    print("topic:", keras_adapters.count_parameters(topic))
    sentiment_weights = [w.numpy().copy() for w in backbone.adapter_weights("sentiment")]
    train_task(topic, news, news_preprocessor, sizes["epochs"], 32, 2e-3)
    assert all(
        np.array_equal(a, w.numpy()) for a, w in zip(sentiment_weights, backbone.adapter_weights("sentiment"))
    ), "training the topic adapter changed the sentiment adapter"

    scores = {}
    backbone.set_active_adapters("sentiment")
    scores["sentiment"] = test_metrics(sentiment, reviews.test, review_preprocessor, reviews.label_names, sizes["test"])
    backbone.set_active_adapters("topic")
    scores["topic"] = test_metrics(topic, news.test, news_preprocessor, news.label_names, sizes["test"])
    for task, metrics in scores.items():
        print(f"{task}: test accuracy {100 * metrics['accuracy']:.2f}%, macro-F1 "
              f"{100 * metrics['macro_f1']:.2f}% on {metrics['num_examples']:,} examples")

    # One call, two tasks: rows 0-1 through "sentiment", rows 2-3 through "topic".
    review_texts = ["a gorgeous, witty, seductive movie.", "a tedious, muddled mess."]
    news_texts = [
        "the new graphics card driver crashes my x server on boot",
        "the pitcher threw a no-hitter in the ninth inning last night",
    ]
    features = news_preprocessor(review_texts + news_texts)
    backbone.set_active_adapters(BatchSplit("sentiment", "topic", batch_sizes=[2, 2]))
    mixed = keras.ops.convert_to_numpy(backbone(features)["sequence_output"])
    for setup, rows in (("sentiment", slice(0, 2)), ("topic", slice(2, 4))):
        backbone.set_active_adapters(setup)
        alone = keras.ops.convert_to_numpy(backbone(features)["sequence_output"])[rows]
        assert np.allclose(mixed[rows], alone, atol=1e-4), f"BatchSplit disagrees for {setup}"
    backbone.set_active_adapters("sentiment")
    review_labels = sentiment.predict(review_preprocessor(review_texts), verbose=0).argmax(-1)
    backbone.set_active_adapters("topic")
    news_labels = topic.predict(news_preprocessor(news_texts), verbose=0).argmax(-1)
    for text, label in zip(review_texts, review_labels):
        print(f"  sentiment  {reviews.label_names[label]:<24} {text}")
    for text, label in zip(news_texts, news_labels):
        print(f"  topic      {news.label_names[label]:<24} {text}")

    # One SavedModel, one signature per task, the backbone stored once.
    with tempfile.TemporaryDirectory() as serving:
        exported = export_multitask_saved_model({"sentiment": sentiment, "topic": topic}, serving, "tasks")
        size = directory_bytes(exported.path)
        result = check_export(exported.path)
        print(f"multi-task export: {size / 1e6:.1f} MB, signatures {sorted(exported.signatures)}; "
              f"C++ loader check {'PASSED' if result.passed else 'FAILED: ' + '; '.join(result.problems)}")
        if not result.passed:
            raise SystemExit(1)
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
