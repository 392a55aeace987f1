"""Sentiment classification with adapters on the real MiniLM and real reviews.

Fine-tunes the `train` default, scaled parallel adapters (He et al. 2022:
s=4, bottleneck = hidden size / 2, beside each feed-forward block), on the
pretrained all-MiniLM-L6-v2 with the Rotten Tomatoes fresh/rotten snippets (fixed deduplicated split:
9,752 train, 1,000 validation, 2,000 test), keeping the best epoch on
validation, then reports the test metrics and classifies a few new sentences
with the saved run. It wraps the training API that `keras-adapters train`
(and `make demo`) runs: `TrainConfig`, `train_text_classifier`, `load_run`.

Run:  .venv/bin/python examples/text_classification.py           (about 8 minutes on 2 CPU cores)
      .venv/bin/python examples/text_classification.py --smoke   (under a minute; what the tests run)

`--smoke` keeps the real data but swaps the backbone for a tiny random BERT
(saved as a local preset with a small word vocabulary) and trains on 64
examples: it checks the pipeline end to end, not the accuracy.
"""

import argparse
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_adapters.training import (  # noqa: E402
    TrainConfig,
    load_run,
    train_text_classifier,
)

SENTENCES = [
    "a gorgeous, witty, seductive movie.",
    "the plot is a tedious mess.",
    "an honest, moving portrait of a family.",
]


def tiny_preset(path):
    """A 2-layer, 16-wide random BERT with a small word vocabulary, as a local preset."""
    import keras_hub

    words = (
        "the a an and of to is it in that this film movie story plot good bad great best "
        "worst funny boring dull witty smart mess fun love hate not too more most characters "
        "performances director script acting beautiful tedious moving charming ."
    ).split()
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    ).save_to_preset(path)
    keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--output-dir", default=None, help="run directory (default: runs/example-sentiment)")
    args = parser.parse_args()
    output_dir = args.output_dir or (
        os.path.join(tempfile.mkdtemp(), "run") if args.smoke else "runs/example-sentiment"
    )
    sizes = (
        dict(max_train_examples=64, epochs=1, sequence_length=16, batch_size=32)
        if args.smoke
        else dict(max_train_examples=None, epochs=2, sequence_length=48, batch_size=32)
    )
    config = TrainConfig(
        output_dir=output_dir,
        # The real pretrained all-MiniLM-L6-v2, offline (a tiny random BERT with --smoke).
        preset=tiny_preset(tempfile.mkdtemp()) if args.smoke else "minilm_l6",
        dataset="rotten_tomatoes",   # the real review snippets
        adapter="houlsby",
        learning_rate=1e-3,
        overwrite=True,
        **sizes,
    )
    metrics = train_text_classifier(config, log=print)
    test = metrics.get("test", metrics)
    print(f"test accuracy: {test['accuracy']:.4f}")
    run = load_run(output_dir)
    labels, probabilities = run.predict_texts(SENTENCES)
    for sentence, label, p in zip(SENTENCES, labels, probabilities):
        print(f"{label:>6} ({p.max():.2f})  {sentence}")
    print(f"run written to {output_dir}")


if __name__ == "__main__":
    main()
