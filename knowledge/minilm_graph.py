"""The local model's graph, rewritten so that its weights stay int8 while it runs.

The pinned ONNX file stores each weight matrix as int8 with one scale per output column, and turns it back
into float32 inside the graph (Cast, then Mul by the scales): onnxruntime folds that into a float32 constant
when it loads the file, so every run multiplies by 42 MB of float32 weights. Here each of those 36 weight
products becomes one MatMulNBits node (onnxruntime's weight-only quantised product, 8 bits) holding the same
int8 values and the same scales, so no weight changes; with accuracy_level=4 the product runs on int8 inputs,
each row's activations quantised per block of BLOCK values. A query's vector costs about half the time
(bench/load.py, README "Production") and stays within 0.998 cosine of the plain graph's, so vectors stored by
earlier releases keep answering (tests/test_local_model.py).

    session = onnxruntime.InferenceSession(int8_products(model_bytes), options)
"""

import numpy as np

BLOCK = 128  # activations per quantisation block: 128 ran batches of queries fastest (32 and 64 measured)
ACCURACY = 4  # onnxruntime's accuracy_level: 4 = int8 inputs to the product (0/1, float32, ran 4x slower)


def int8_products(model: bytes) -> bytes:
    """The model with every MatMul(x, Mul(Cast(W int8), scale)) replaced by MatMulNBits on W's own bytes."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    constants = {init.name: init for init in graph.initializer}
    made_by = {output: node for node in graph.node for output in node.output}
    nodes, replaced, added = [], set(), []
    for node in graph.node:
        weights = _int8_weights(node, made_by, constants)
        if weights is None:
            nodes.append(node)
            continue
        cast, mul = weights
        w = numpy_helper.to_array(constants[cast.input[0]])  # int8 [K, N]
        scale = numpy_helper.to_array(constants[mul.input[1]]).reshape(-1).astype(np.float32)  # [N]
        k, n = w.shape
        blocks = k // BLOCK
        # MatMulNBits wants unsigned values with a zero point, column by column in blocks along K.
        unsigned = (w.astype(np.int16) + 128).astype(np.uint8).T.reshape(n, blocks, BLOCK)
        name = node.name or node.output[0]
        added += [numpy_helper.from_array(unsigned, f"{name}_int8"),
                  numpy_helper.from_array(np.repeat(scale, blocks), f"{name}_scales"),
                  numpy_helper.from_array(np.full(n * blocks, 128, np.uint8), f"{name}_zero")]
        nodes.append(helper.make_node(
            "MatMulNBits", [node.input[0], f"{name}_int8", f"{name}_scales", f"{name}_zero"], list(node.output),
            name=f"{name}_int8", domain="com.microsoft", K=k, N=n, bits=8, block_size=BLOCK,
            accuracy_level=ACCURACY))
        replaced.update([cast.name, mul.name])
    if not added:
        raise RuntimeError("The local model's graph has no int8 weight products to keep as int8.")
    nodes = [node for node in nodes if node.name not in replaced]
    used = {name for node in nodes for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if not any(opset.domain == "com.microsoft" for opset in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return proto.SerializeToString()


def _int8_weights(node, made_by: dict, constants: dict):
    """(Cast, Mul) when `node` is MatMul(x, Mul(Cast(int8 constant), scale constant)) with K a multiple of
    BLOCK; else None."""
    if node.op_type != "MatMul" or node.input[1] not in made_by:
        return None
    mul = made_by[node.input[1]]
    if mul.op_type != "Mul" or mul.input[0] not in made_by or mul.input[1] not in constants:
        return None
    cast = made_by[mul.input[0]]
    if cast.op_type != "Cast" or cast.input[0] not in constants:
        return None
    dims = constants[cast.input[0]].dims
    if constants[cast.input[0]].data_type != 3 or len(dims) != 2 or dims[0] % BLOCK:  # 3: TensorProto.INT8
        return None
    if int(np.prod(constants[mul.input[1]].dims)) != dims[1]:  # one scale per output column
        return None
    return cast, mul
