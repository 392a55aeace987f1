"""Extractive question answering: adapters vs full fine-tuning of the same encoder.

1. Read a SQuAD-style data set (`squad:PATH` for SQuAD v1.1/v2.0 JSON files,
   or `jsonl:PATH` with context/question/answers; see
   `keras_adapters.data.question_answering`). No question-answering data set
   installs offline from a package registry reachable here, so the full run
   needs the files: e.g. SQuAD v1.1's train-v1.1.json and dev-v1.1.json
   (CC BY-SA 4.0, rajpurkar.github.io/SQuAD-explorer).
2. Encode question + context windows (doc stride: long contexts are read in
   overlapping windows) with answer spans mapped to word pieces.
3. Train two arms on the same split, same windows, same epochs:
   Houlsby adapters (bottleneck 64) on the pretrained all-MiniLM-L6-v2 at
   1e-3, and full fine-tuning of the same model at 5e-5; report SQuAD exact
   match and F1 on the validation questions, trainable parameters and time.
4. Export the adapter arm with start/end-logit outputs and check the
   SavedModel with TensorFlow's C++ loader.

Run (the full-size comparison; hours on a GPU, far longer on 2 CPU cores):
      .venv/bin/python examples/question_answering.py \\
          --train squad:data/train-v1.1.json --validation squad:data/dev-v1.1.json
      .venv/bin/python examples/question_answering.py --smoke   (what the tests run)

`--smoke` writes a tiny template-made file of questions (not real data) and
swaps MiniLM for a 2-layer random BERT: it checks the pipeline end to end,
not the accuracy.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import keras_hub

import keras_adapters
from keras_adapters.data.qa_encoding import encode_qa
from keras_adapters.data.question_answering import load_qa_dataset
from keras_adapters.export import check_export
from keras_adapters.export.question_answering import export_question_answerer
from keras_adapters.pretrained import load_backbone, load_preprocessor
from keras_adapters.tasks import SpanQuestionAnswerer
from keras_adapters.training.question_answering import score_examples

SMOKE_WORDS = ("the of was by in who built where is tower bridge museum ana bo cy dee "
               "paris rome berlin vienna 1889 1905 . ?").split()


def write_smoke_file(path, count=48):
    """A template-made SQuAD-style JSON Lines file (for --smoke only)."""
    names, cities = ["ana", "bo", "cy", "dee"], ["paris", "rome", "berlin", "vienna"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            name, city, thing = names[i % 4], cities[(i // 4) % 4], ["tower", "bridge", "museum"][i % 3]
            context = f"the {thing} of {city} was built by {name} in {1889 + 16 * (i % 2)} ."
            question, answer = (f"who built the {thing} ?", name) if i % 2 else (f"where is the {thing} ?", city)
            f.write(json.dumps({"id": str(i), "context": context, "question": question, "answers": {
                "text": [answer], "answer_start": [context.index(f" {answer} ") + 1]}}) + "\n")
    return "jsonl:" + path


def tiny_backbone_and_tokenizer():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + SMOKE_WORDS
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64)
    return backbone, tokenizer


def train_arm(model, data, tokenizer, sizes, learning_rate):
    """Fits one arm and scores it on the validation questions."""
    train = encode_qa(tokenizer, data.train, sizes["length"])
    steps = sizes["epochs"] * -(-len(train.example_index) // sizes["batch"])
    model.compile(learning_rate=learning_rate, total_steps=steps)
    started = time.perf_counter()
    model.fit(train.features, train.labels, batch_size=sizes["batch"], epochs=sizes["epochs"], verbose=2)
    seconds = time.perf_counter() - started
    scores = score_examples(model, tokenizer, data.validation, sizes["length"])
    return scores, seconds, len(train.example_index)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and data, for the tests")
    parser.add_argument("--train", help="training data: squad:PATH or jsonl:PATH")
    parser.add_argument("--validation", help="validation data (default: 10%% of --train by context)")
    parser.add_argument("--max-train-examples", type=int, default=None)
    parser.add_argument("--output-dir", default=None, help="where to export the adapter arm")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    if args.smoke:
        train_spec = args.train or write_smoke_file(os.path.join(work, "qa.jsonl"))
        sizes = dict(length=24, epochs=2, batch=8)
    elif args.train:
        train_spec = args.train
        sizes = dict(length=256, epochs=2, batch=32)
    else:
        parser.error("give --train squad:PATH (e.g. SQuAD v1.1 train-v1.1.json) and --validation, "
                     "or --smoke; no question-answering data set installs offline here.")
    data = load_qa_dataset(train_spec, validation=args.validation, max_examples=args.max_train_examples)
    print(f"{train_spec}: {len(data.train):,} training / {len(data.validation):,} validation questions")

    results = {}
    for arm, learning_rate in (("houlsby adapters", 1e-3), ("full fine-tuning", 5e-5)):
        keras.utils.set_random_seed(0)
        if args.smoke:
            base, tokenizer = tiny_backbone_and_tokenizer()
        else:
            base = load_backbone("minilm_l6")
            tokenizer = load_preprocessor("minilm_l6", sizes["length"]).tokenizer
        if arm.startswith("houlsby"):
            backbone = keras_adapters.add_adapters(base, "houlsby")
        else:  # every weight trains, except BERT's pooler, which a span head does not read
            backbone = base
            for layer in backbone.layers:
                layer.trainable = layer.name != "pooled_dense"
        model = SpanQuestionAnswerer(backbone)
        parameters = keras_adapters.count_parameters(model)
        scores, seconds, windows = train_arm(model, data, tokenizer, sizes, learning_rate)
        results[arm] = model
        print(f"{arm}: exact match {scores['exact_match']:.2f}, F1 {scores['f1']:.2f} on "
              f"{scores['num_examples']:,} validation questions; trainable "
              f"{parameters.trainable:,} of {parameters.total:,}; {windows:,} windows, "
              f"training {seconds:.0f} s")

    base_path = args.output_dir or os.path.join(work, "serving")
    exported = export_question_answerer(results["houlsby adapters"], base_path, "qa",
                                        metadata={"sequence_length": sizes["length"]})
    check = check_export(exported.path)
    print(f"exported {exported.path} (outputs: {', '.join(sorted(exported.signatures['serving_default']['outputs']))}); "
          f"C++ loader check {'PASSED' if check.passed else 'FAILED: ' + '; '.join(check.problems)}")


if __name__ == "__main__":
    main()
