"""A minimal protobuf wire-format reader for SavedModel files.

The export check runs in a process that must not import the tensorflow
Python package (a TF Serving binary does not have it), so it cannot use the
generated `*_pb2` classes. The few fields it needs (signatures, node ops, the
op registry) are read straight from the wire format.
"""

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _read_varint(data, position):
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def fields(data):
    """Yields `(field_number, value)` for each field of a serialized message.

    Length-delimited values come as `bytes` (sub-messages, strings, packed
    arrays); varints as `int`; fixed-width values as raw `bytes`.

    Example:

    >>> from keras_adapters.export.protowire import fields
    >>> list(fields(bytes([0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69])))
    [(1, 150), (2, b'hi')]
    """
    data = memoryview(data)
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, position = _read_varint(data, position)
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _read_varint(data, position)
            value = bytes(data[position : position + length])
            position += length
        elif wire_type == _FIXED64:
            value = bytes(data[position : position + 8])
            position += 8
        elif wire_type == _FIXED32:
            value = bytes(data[position : position + 4])
            position += 4
        else:
            raise ValueError(f"Unsupported protobuf wire type {wire_type}.")
        yield number, value


def repeated(data, number):
    """All values of field `number` in a serialized message."""
    return [value for field, value in fields(data) if field == number]


def first(data, number, default=None):
    """The first value of field `number`, or `default`."""
    for field, value in fields(data):
        if field == number:
            return value
    return default


# Field numbers from tensorflow/core/protobuf/{saved_model,meta_graph}.proto,
# tensorflow/core/framework/{graph,function,node_def,op_def,tensor_shape}.proto.
SAVED_MODEL_META_GRAPHS = 2
META_GRAPH_INFO = 1
META_INFO_TAGS = 4
META_GRAPH_GRAPH_DEF = 2
META_GRAPH_SIGNATURE_DEF = 5
GRAPH_NODE = 1
GRAPH_LIBRARY = 2
LIBRARY_FUNCTION = 1
FUNCTION_NODE_DEF = 3
NODE_OP = 2
SIGNATURE_INPUTS = 1
SIGNATURE_OUTPUTS = 2
TENSOR_INFO_NAME = 1
TENSOR_INFO_DTYPE = 2
TENSOR_INFO_SHAPE = 3
SHAPE_DIM = 2
SHAPE_UNKNOWN_RANK = 3
DIM_SIZE = 1
OP_LIST_OP = 1
OP_DEF_NAME = 1
MAP_KEY, MAP_VALUE = 1, 2


def _signed(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def meta_graph_tags(meta_graph):
    info = first(meta_graph, META_GRAPH_INFO, b"")
    return [tag.decode() for tag in repeated(info, META_INFO_TAGS)]


def signatures(meta_graph):
    """Dict signature name -> {"inputs": {...}, "outputs": {...}}.

    Each tensor entry is `{"name": "x:0", "dtype": int, "shape": [..] or None}`
    with -1 for unknown dimensions.
    """
    result = {}
    for entry in repeated(meta_graph, META_GRAPH_SIGNATURE_DEF):
        key = first(entry, MAP_KEY, b"").decode()
        signature = first(entry, MAP_VALUE, b"")
        result[key] = {
            "inputs": _tensor_map(signature, SIGNATURE_INPUTS),
            "outputs": _tensor_map(signature, SIGNATURE_OUTPUTS),
        }
    return result


def _tensor_map(signature, number):
    tensors = {}
    for entry in repeated(signature, number):
        key = first(entry, MAP_KEY, b"").decode()
        info = first(entry, MAP_VALUE, b"")
        shape_proto = first(info, TENSOR_INFO_SHAPE, None)
        shape = None
        if shape_proto is not None and not first(shape_proto, SHAPE_UNKNOWN_RANK, 0):
            shape = [_signed(first(dim, DIM_SIZE, 0)) for dim in repeated(shape_proto, SHAPE_DIM)]
        tensors[key] = {
            "name": first(info, TENSOR_INFO_NAME, b"").decode(),
            "dtype": first(info, TENSOR_INFO_DTYPE, 0),
            "shape": shape,
        }
    return tensors


def graph_ops(meta_graph):
    """Sorted op types used by the graph and every function in its library."""
    graph = first(meta_graph, META_GRAPH_GRAPH_DEF, b"")
    ops = {first(node, NODE_OP, b"").decode() for node in repeated(graph, GRAPH_NODE)}
    for library in repeated(graph, GRAPH_LIBRARY):
        for function in repeated(library, LIBRARY_FUNCTION):
            for node in repeated(function, FUNCTION_NODE_DEF):
                ops.add(first(node, NODE_OP, b"").decode())
    ops.discard("")
    return sorted(ops)


def op_names(op_list):
    """Names of the ops in a serialized `OpList`."""
    return {first(op, OP_DEF_NAME, b"").decode() for op in repeated(op_list, OP_LIST_OP)}
