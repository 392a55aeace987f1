"""Export an adapted classifier for TF Serving, check it, and send it a request.

1. Train a sentiment classifier with adapters on real Rotten Tomatoes snippets
   (the real MiniLM; with --smoke a tiny random BERT and 64 examples).
2. Export it as `BASE/sentiment/1/` (TF Serving's layout) with
   `keras_adapters.export.export_saved_model`.
3. Check it with TensorFlow's C++ SavedModel loader in a process without
   TensorFlow Python (`check_export`): loads, runs, matches Keras, core ops only.
4. Tokenize raw texts on the client (`tokenize_for_serving`), build the REST
   body (`rest_request_body`) and POST it to `/v1/models/sentiment:predict`.
   If `tensorflow_model_server` is on PATH, that is the real server;
   otherwise (as on the machines of this project, where none can be
   installed) a stand-in on 127.0.0.1 answers it: a few lines of
   `http.server` that run the export's `serving_default` signature with
   TensorFlow's C++ loader in a fresh process without TensorFlow Python
   (`run_with_cpp_loader`), not with an in-process `tf.saved_model.load`,
   which would also pass where a bare server fails. The stand-in shows the
   request and response format; it is not a test of TF Serving itself.
5. Compare the served probabilities with Keras' `predict` on the same
   texts: exit with status 1 if they differ by more than `TOLERANCE` (1e-5).

Run:  .venv/bin/python examples/export_and_request.py           (a few minutes on 2 CPU cores)
      .venv/bin/python examples/export_and_request.py --smoke   (under a minute; what the tests run)
"""

import argparse
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_adapters  # noqa: E402
from keras_adapters.data import load_dataset  # noqa: E402
from keras_adapters.errors import KerasAdaptersError  # noqa: E402
from keras_adapters.export import (  # noqa: E402
    check_export,
    export_saved_model,
    rest_request_body,
    tokenize_for_serving,
)
from keras_adapters.export.check import TOLERANCE, run_with_cpp_loader  # noqa: E402
from keras_adapters.pretrained import load_backbone, load_preprocessor  # noqa: E402
from keras_adapters.tasks import PooledTextClassifier  # noqa: E402
from keras_adapters.training import tokenized  # noqa: E402

TEXTS = ["a gorgeous, witty, seductive movie.", "the plot is a tedious mess."]


def tiny_backbone_and_preprocessor(sequence_length):
    """A 2-layer, 16-wide random BERT with a small word vocabulary."""
    words = ("the a an and of to is it film movie story plot good bad great witty "
             "boring dull mess fun tedious gorgeous seductive .").split()
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=64)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length)
    return backbone, preprocessor


def train(smoke):
    data = load_dataset("rotten_tomatoes", max_examples=64 if smoke else 2000)
    if smoke:
        base, preprocessor = tiny_backbone_and_preprocessor(32)
    else:
        base, preprocessor = load_backbone("minilm_l6"), load_preprocessor("minilm_l6", 48)
    model = PooledTextClassifier(keras_adapters.add_adapters(base, "houlsby"), num_classes=2)
    # The task's recipe: AdamW at 1e-3 (a constant rate: no `total_steps` for
    # one short epoch), cross-entropy on the logits, accuracy.
    model.compile()
    model.fit(tokenized(data.train, preprocessor, 32, shuffle_seed=0), epochs=1, verbose=2)
    return model, preprocessor, data.label_names


class StandInServer(http.server.ThreadingHTTPServer):
    """TF Serving's REST `:predict` (row format) over a SavedModel, for this example only.

    Each request runs `serving_default` with TensorFlow's C++ SavedModel
    loader in a fresh process that imports no TensorFlow Python, so the
    answer is what a bare server's loader computes.
    """

    def __init__(self, export_dir, model_name):
        self.export_dir = export_dir
        self.model_name = model_name
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        if self.path != f"/v1/models/{self.server.model_name}:predict":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        instances = body["instances"]
        inputs = {key: np.array([row[key] for row in instances], "int32") for key in instances[0]}
        try:
            signature = body.get("signature_name", "serving_default")
            outputs = run_with_cpp_loader(self.server.export_dir, inputs, signature)
        except KerasAdaptersError as e:
            self.send_error(400, "TensorFlow's C++ loader could not run the request", str(e))
            return
        rows = [{key: value[i].tolist() for key, value in outputs.items()}
                for i in range(len(instances))]
        payload = json.dumps({"predictions": rows}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def real_server(base_path, name):
    """Starts tensorflow_model_server on a free local port; returns (process, port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        ["tensorflow_model_server", f"--rest_api_port={port}", "--port=0",
         f"--model_name={name}", f"--model_base_path={os.path.abspath(os.path.join(base_path, name))}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{name}", timeout=2)
            return process, port
        except OSError:
            time.sleep(1)
    process.kill()
    raise RuntimeError("tensorflow_model_server did not come up within 60 s")


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--base-path", default=None, help="model base path (default: a temporary folder)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model, preprocessor, label_names = train(args.smoke)

    base_path = args.base_path or tempfile.mkdtemp()
    exported = export_saved_model(model, base_path, "sentiment", overwrite=True,
                                  metadata={"label_names": list(label_names)})
    print(f"exported to {exported.path}")
    check = check_export(exported.path)
    print(f"C++ loader check {'PASSED' if check.passed else 'FAILED'}: "
          f"max diff to Keras {check.max_abs_diff}, problems {check.problems}")
    if not check.passed:
        raise SystemExit(1)

    features = tokenize_for_serving(preprocessor, TEXTS)
    body = rest_request_body(features)
    process = server = None
    if shutil.which("tensorflow_model_server"):
        process, port = real_server(base_path, "sentiment")
        print("server: tensorflow_model_server")
    else:
        server = StandInServer(exported.path, "sentiment")
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print("server: stand-in on 127.0.0.1 answering with TensorFlow's C++ SavedModel loader "
              "(no tensorflow_model_server on PATH)")
    try:
        response = post(f"http://127.0.0.1:{port}/v1/models/sentiment:predict", body)
    finally:
        if server is not None:
            server.shutdown()
        if process is not None:
            process.kill()
    served = np.array([row["probabilities"] for row in response["predictions"]])
    local = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(features, verbose=0)))
    difference = float(np.abs(served - local).max()) if served.shape == local.shape else float("nan")
    print(f"served vs Keras: max diff {difference:.2e} (tolerance {TOLERANCE:g})")
    for text, p in zip(TEXTS, served):
        print(f"{label_names[int(p.argmax())]:>6} ({p.max():.2f})  {text}")
    if not difference <= TOLERANCE:  # NaN (another shape) fails too
        problem = (f"differ from Keras' by {difference:.2e}" if served.shape == local.shape
                   else f"have shape {served.shape}, Keras' {local.shape}")
        print(f"FAILED: the served probabilities {problem} (tolerance {TOLERANCE:g})")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
