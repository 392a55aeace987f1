"""Walking and cutting the graph of a Keras functional model.

Keras keeps a functional model's graph as nodes (one per layer call) grouped
by depth; these helpers list them in execution order and cut the graph below
chosen nodes. `keras_adapters.training.frozen_prefix` uses them to split a
task model at its lowest trainable block.
"""

import keras

__all__ = ["cut_graph", "graph_nodes", "is_model_input"]


def graph_nodes(model):
    """The nodes of a functional model's graph, inputs first.

    Args:
        model: a built functional `keras.Model`.

    Returns:
        A list of Keras nodes (one per layer call), deepest first.
    """
    depths = sorted(model._nodes_by_depth, reverse=True)
    return [node for depth in depths for node in model._nodes_by_depth[depth]]


def cut_graph(nodes, starts):
    """Splits a graph below the nodes with ids `starts`.

    Args:
        nodes: the graph's nodes in execution order (`graph_nodes`).
        starts: set of `id(node)` where the upper part begins.

    Returns:
        `(upper, frontier)`: ids of the nodes at or after a start node, and
        the tensors they read that are made outside them, in graph order.
    """
    producer = {id(t): node for node in nodes for t in node.outputs}
    upper = set()
    for node in nodes:
        if node.is_input:
            continue
        if id(node) in starts or any(id(producer.get(id(t))) in upper for t in node.input_tensors):
            upper.add(id(node))
    frontier, seen = [], set()
    for tensor in [t for node in nodes if id(node) in upper for t in node.input_tensors]:
        if id(producer.get(id(tensor))) not in upper and id(tensor) not in seen:
            seen.add(id(tensor))
            frontier.append(tensor)
    return upper, frontier


def is_model_input(tensor):
    """Whether `tensor` is one of its functional model's inputs.

    Args:
        tensor: a symbolic tensor of a functional graph.
    """
    return isinstance(tensor._keras_history.operation, keras.layers.InputLayer)
