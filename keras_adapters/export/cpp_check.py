"""Load and run a SavedModel with TensorFlow's C++ loader, without TF Python.

Run as a script (`python -I cpp_check.py EXPORT_DIR ...`), never imported by
keras-adapters itself: this process loads TensorFlow's shared libraries
through ctypes and must not import the tensorflow Python package, keras,
keras_hub or tensorflow_text. That way it sees what a bare TF Serving
process sees: only the ops linked into TensorFlow's C++ runtime. It calls
`TF_LoadSessionFromSavedModel` (the C++ `LoadSavedModel` that TF Serving's
SavedModelBundle uses), reads the signature from the MetaGraphDef, runs it
with `TF_SessionRun`, and audits every op of the graph and its function
library against `TF_GetAllOpList()`.

Prints one JSON report on stdout.
"""

import argparse
import ctypes
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protowire  # noqa: E402

TF_FLOAT, TF_INT32, TF_INT64, TF_BOOL = 1, 3, 9, 10
NUMPY_DTYPES = {TF_FLOAT: "float32", TF_INT32: "int32", TF_INT64: "int64", TF_BOOL: "bool"}


class TF_Buffer(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("length", ctypes.c_size_t),
        ("data_deallocator", ctypes.c_void_p),
    ]


class TF_Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def _tensorflow_dir():
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The tensorflow package (its shared libraries) is not installed.")
    return list(spec.submodule_search_locations)[0]


def load_c_api():
    directory = _tensorflow_dir()
    ctypes.CDLL(os.path.join(directory, "libtensorflow_framework.so.2"), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(os.path.join(directory, "libtensorflow_cc.so.2"), mode=ctypes.RTLD_GLOBAL)
    p = ctypes.c_void_p
    signatures = {
        "TF_NewGraph": ([], p),
        "TF_NewStatus": ([], p),
        "TF_NewSessionOptions": ([], p),
        "TF_NewBuffer": ([], ctypes.POINTER(TF_Buffer)),
        "TF_GetCode": ([p], ctypes.c_int),
        "TF_Message": ([p], ctypes.c_char_p),
        "TF_LoadSessionFromSavedModel": (
            [p, p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, p,
             ctypes.POINTER(TF_Buffer), p],
            p,
        ),
        "TF_GraphOperationByName": ([p, ctypes.c_char_p], p),
        "TF_AllocateTensor": ([ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_size_t], p),
        "TF_TensorData": ([p], p),
        "TF_TensorByteSize": ([p], ctypes.c_size_t),
        "TF_TensorType": ([p], ctypes.c_int),
        "TF_NumDims": ([p], ctypes.c_int),
        "TF_Dim": ([p, ctypes.c_int], ctypes.c_int64),
        "TF_DeleteTensor": ([p], None),
        "TF_SessionRun": (
            [p, p, ctypes.POINTER(TF_Output), ctypes.POINTER(p), ctypes.c_int,
             ctypes.POINTER(TF_Output), ctypes.POINTER(p), ctypes.c_int, p, ctypes.c_int, p, p],
            None,
        ),
        "TF_GetAllOpList": ([], ctypes.POINTER(TF_Buffer)),
        "TF_CloseSession": ([p, p], None),
        "TF_DeleteSession": ([p, p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


def _check(lib, status, what):
    if lib.TF_GetCode(status) != 0:
        raise RuntimeError(f"{what} failed: {lib.TF_Message(status).decode(errors='replace')}")


def _buffer_bytes(buffer):
    return ctypes.string_at(buffer.contents.data, buffer.contents.length)


def _output(lib, graph, tensor_name):
    operation, _, index = tensor_name.partition(":")
    handle = lib.TF_GraphOperationByName(graph, operation.encode())
    if not handle:
        raise RuntimeError(f"Operation {operation!r} of the signature is not in the graph.")
    return TF_Output(handle, int(index or 0))


def _to_tensor(lib, array):
    import numpy as np

    codes = {v: k for k, v in NUMPY_DTYPES.items()}
    array = np.ascontiguousarray(array)
    dims = (ctypes.c_int64 * array.ndim)(*array.shape)
    tensor = lib.TF_AllocateTensor(codes[str(array.dtype)], dims, array.ndim, array.nbytes)
    ctypes.memmove(lib.TF_TensorData(tensor), array.ctypes.data, array.nbytes)
    return tensor


def _from_tensor(lib, tensor):
    import numpy as np

    dtype = NUMPY_DTYPES.get(lib.TF_TensorType(tensor))
    if dtype is None:
        raise RuntimeError(f"Output dtype code {lib.TF_TensorType(tensor)} is not supported here.")
    shape = [lib.TF_Dim(tensor, i) for i in range(lib.TF_NumDims(tensor))]
    raw = ctypes.string_at(lib.TF_TensorData(tensor), lib.TF_TensorByteSize(tensor))
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _run_signature(lib, session, graph, status, report, name, feeds, repeats):
    if name not in report["signatures"]:
        raise RuntimeError(f"No signature {name!r}; the export has {sorted(report['signatures'])}.")
    signature = report["signatures"][name]
    missing = sorted(set(signature["inputs"]) - set(feeds))
    if missing:
        raise RuntimeError(f"Inputs {missing} of signature {name!r} were not given.")
    input_names = sorted(signature["inputs"])
    output_names = sorted(signature["outputs"])
    inputs = (TF_Output * len(input_names))(
        *[_output(lib, graph, signature["inputs"][k]["name"]) for k in input_names]
    )
    outputs = (TF_Output * len(output_names))(
        *[_output(lib, graph, signature["outputs"][k]["name"]) for k in output_names]
    )
    input_values = (ctypes.c_void_p * len(input_names))(
        *[_to_tensor(lib, feeds[k]) for k in input_names]
    )
    timings = []
    for _ in range(repeats + 1):
        output_values = (ctypes.c_void_p * len(output_names))()
        started = time.perf_counter()
        lib.TF_SessionRun(
            session, None, inputs, input_values, len(input_names), outputs,
            output_values, len(output_names), None, 0, None, status,
        )
        timings.append(time.perf_counter() - started)
        _check(lib, status, f"TF_SessionRun({name})")
        results = {k: _from_tensor(lib, output_values[i]) for i, k in enumerate(output_names)}
        for i in range(len(output_names)):
            lib.TF_DeleteTensor(output_values[i])
    return results, timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--signature", action="append",
                        help="signature to run (repeatable; default serving_default)")
    parser.add_argument("--inputs", help=".npz of signature inputs to run")
    parser.add_argument("--outputs", help=".npz to write the signature outputs to")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after a warm-up")
    args = parser.parse_args(argv)

    report = {"export_dir": args.export_dir, "loaded": False}
    lib = load_c_api()
    # The op audit reads the file, so it is reported even if loading fails.
    with open(os.path.join(args.export_dir, "saved_model.pb"), "rb") as f:
        saved_model = f.read()
    serve = [
        meta for meta in protowire.repeated(saved_model, protowire.SAVED_MODEL_META_GRAPHS)
        if "serve" in protowire.meta_graph_tags(meta)
    ]
    if not serve:
        raise RuntimeError("The SavedModel has no meta graph tagged 'serve'.")
    report["tags"] = protowire.meta_graph_tags(serve[0])
    report["signatures"] = protowire.signatures(serve[0])
    report["ops"] = protowire.graph_ops(serve[0])
    registered = protowire.op_names(_buffer_bytes(lib.TF_GetAllOpList()))
    report["unregistered_ops"] = [op for op in report["ops"] if op not in registered]

    status = lib.TF_NewStatus()
    graph = lib.TF_NewGraph()
    meta_graph = lib.TF_NewBuffer()
    tags = (ctypes.c_char_p * 1)(b"serve")
    started = time.perf_counter()
    session = lib.TF_LoadSessionFromSavedModel(
        lib.TF_NewSessionOptions(), None, os.path.abspath(args.export_dir).encode(), tags, 1,
        graph, meta_graph, status,
    )
    try:
        _check(lib, status, "TF_LoadSessionFromSavedModel")
    except RuntimeError as e:
        report["error"] = str(e)
        _finish(report)
        return 1
    report["loaded"] = True
    report["load_seconds"] = time.perf_counter() - started
    # The signatures the loader itself parsed (what a server would use).
    report["signatures"] = protowire.signatures(_buffer_bytes(meta_graph))

    if args.inputs:
        import numpy as np

        with np.load(args.inputs) as data:
            feeds = {key: data[key] for key in data.files}
        everything = {}
        report["runs"] = {}
        for name in args.signature or ["serving_default"]:
            results, timings = _run_signature(lib, session, graph, status, report, name, feeds, args.repeats)
            everything.update({f"{name}.{key}": value for key, value in results.items()})
            report["runs"][name] = {
                "outputs": {k: list(v.shape) for k, v in results.items()},
                "seconds_first": timings[0],
                "seconds_median": sorted(timings[1:])[len(timings[1:]) // 2] if args.repeats else None,
            }
        if args.outputs:
            np.savez(args.outputs, **everything)
    lib.TF_CloseSession(session, status)
    lib.TF_DeleteSession(session, status)
    _finish(report)
    return 0


def _finish(report):
    report["python_modules"] = {
        name: name in sys.modules for name in ("tensorflow", "keras", "keras_hub", "tensorflow_text")
    }
    print(json.dumps(report))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report, don't crash with a traceback
        print(json.dumps({"loaded": False, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
