"""Neural-network ops (convolutions, normalizations, pools, depth/space) against ONNX Runtime:
hypothesis draws shapes and every attribute, over the opsets where the op changed. Resize has
its own file, test_ops_resize.py."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oracle import check_op
from tensorforge.compiler import ShapeError, UnsupportedModelError, evaluate

from nn_helpers import convert, randn

AUTO_PADS = ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]
FLOATS = [np.float32, np.float16]


def tol_for(*dtypes):
    """float16 math in ONNX Runtime (and in fused graphs) rounds intermediates of order 10 to
    float16, about 5e-3 absolute, so a result that cancels to near zero needs an absolute
    tolerance of that order; other dtypes keep the oracle's defaults."""
    return (1e-2, 1e-2) if np.float16 in dtypes else None


def ints(draw, n, lo, hi):
    return [draw(st.integers(lo, hi)) for _ in range(n)]


def span(k, d):
    return (k - 1) * d + 1


@st.composite
def windows(draw, max_nd=3, pool=False):
    """(kernel, input sizes, ONNX window attributes) that fit together: explicit pads or an
    auto_pad mode (ONNX Runtime refuses dilated SAME convolutions, and SAME pools whose
    stride exceeds the kernel)."""
    nd = draw(st.integers(1, max_nd))
    kernel = ints(draw, nd, 1, 3)
    strides = ints(draw, nd, 1, 3)
    dilations = ints(draw, nd, 1, 2)
    pads = [draw(st.integers(0, (kernel[i % nd] - 1) if pool else 2)) for i in range(2 * nd)]
    same_ok = all(k >= s for k, s in zip(kernel, strides)) if pool else dilations == [1] * nd
    mode = draw(st.sampled_from(AUTO_PADS if same_ok else AUTO_PADS[:2]))
    attrs = {"strides": strides}
    if mode == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = mode
        pads = [0] * (2 * nd)
    if dilations != [1] * nd or draw(st.booleans()):
        attrs["dilations"] = dilations
    low = [max(1, span(k, d) - pads[i] - pads[nd + i])
           for i, (k, d) in enumerate(zip(kernel, dilations))]
    sizes = [draw(st.integers(lo, lo + (4 if nd < 3 else 2))) for lo in low]
    return kernel, sizes, attrs


# -- Conv -----------------------------------------------------------------------------------

@given(st.data(), windows(), st.sampled_from([1, 2, 3]), st.sampled_from([9, 11, 21]))
def test_conv(data, window, group, opset):
    draw = data.draw
    kernel, sizes, attrs = window
    cg, mg, n = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    if draw(st.booleans()):
        attrs = {**attrs, "kernel_shape": kernel}
    inits = {"w": randn(draw, [group * mg, cg] + kernel)}
    if draw(st.booleans()):
        inits["b"] = randn(draw, [group * mg])
    check_op("Conv", {"x": randn(draw, [n, group * cg] + sizes)}, initializers=inits,
             opset=opset, group=group, **attrs)


@given(st.data(), st.integers(1, 6), st.integers(1, 2), st.sampled_from([1, 2]))
def test_depthwise_conv(data, channels, multiplier, stride):
    draw = data.draw
    check_op("Conv", {"x": randn(draw, [1, channels, 6, 5])},
             initializers={"w": randn(draw, [channels * multiplier, 1, 3, 3]),
                           "b": randn(draw, [channels * multiplier])},
             group=channels, strides=[stride, stride], pads=[1, 1, 1, 1])


def test_conv_float16():
    rng = np.random.default_rng(0)
    check_op("Conv", {"x": rng.standard_normal((1, 4, 5, 5)).astype(np.float16)},
             initializers={"w": rng.standard_normal((2, 4, 3, 3)).astype(np.float16)},
             pads=[1, 1, 1, 1])


# -- ConvTranspose --------------------------------------------------------------------------

@given(st.data(), st.integers(1, 2), st.sampled_from([1, 2]),
       st.sampled_from(["pads", "output_shape"] + AUTO_PADS[1:]))
def test_conv_transpose(data, nd, group, how):
    """Explicit pads and output_padding, or output_shape (under any auto_pad), or auto_pad."""
    draw = data.draw
    kernel, strides = ints(draw, nd, 1, 3), ints(draw, nd, 1, 3)
    dilations, sizes = ints(draw, nd, 1, 2), ints(draw, nd, 1, 4)
    cg, mg = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    attrs = {"strides": strides, "dilations": dilations, "group": group}
    natural = [s * (n - 1) + span(k, d) for s, n, k, d in zip(strides, sizes, kernel, dilations)]
    if how == "pads":
        attrs["pads"] = [draw(st.integers(0, (natural[i % nd] - 1) // 2)) for i in range(2 * nd)]
        attrs["output_padding"] = [draw(st.integers(0, s - 1)) for s in strides]
    elif how == "output_shape":
        attrs["output_shape"] = [draw(st.integers(max(1, m - 3), m + s - 1))
                                 for m, s in zip(natural, strides)]
        attrs["auto_pad"] = draw(st.sampled_from(AUTO_PADS))
    else:
        attrs["auto_pad"] = how
    inits = {"w": randn(draw, [group * cg, mg] + kernel)}
    if draw(st.booleans()):
        inits["b"] = randn(draw, [group * mg])
    check_op("ConvTranspose", {"x": randn(draw, [draw(st.integers(1, 2)), group * cg] + sizes)},
             initializers=inits, **attrs)


# -- normalizations -------------------------------------------------------------------------

def channel_params(draw, c, dtype=np.float32):
    scale, bias, mean = (randn(draw, [c], dtype) for _ in range(3))
    return {"scale": scale, "B": bias, "mean": mean,
            "var": (np.abs(randn(draw, [c], dtype)) + 0.1).astype(dtype)}


@given(st.data(), st.lists(st.integers(1, 4), min_size=2, max_size=4),
       st.sampled_from([9, 14, 15]), st.sampled_from(FLOATS), st.floats(1e-6, 0.1))
def test_batch_norm(data, shape, opset, dtype, epsilon):
    """Opset 15 lets the parameters have another float type than X."""
    draw = data.draw
    param_dtype = draw(st.sampled_from(FLOATS)) if opset >= 15 else dtype
    check_op("BatchNormalization", {"x": randn(draw, shape, dtype)},
             initializers=channel_params(draw, shape[1], param_dtype), opset=opset,
             epsilon=epsilon, tol=tol_for(dtype, param_dtype),
             **({"training_mode": 0} if opset >= 14 else {}))


@given(st.data(), st.lists(st.integers(1, 4), min_size=2, max_size=4), st.sampled_from([14, 15]),
       st.sampled_from(["float32", "float64"]))
def test_batch_norm_training_mode(data, shape, opset, dtype):
    """training_mode=1: Y from the batch's mean and variance, and the running statistics
    mean * momentum + batch * (1 - momentum) (ONNX wants all three outputs). A batch of one
    element per channel is degenerate, as for test_instance_norm."""
    assume(shape[0] * math.prod(shape[2:]) > 1)
    draw = data.draw
    attrs = {"epsilon": draw(st.floats(1e-6, 0.1))}
    if draw(st.booleans()):
        attrs["momentum"] = draw(st.floats(0, 1))
    x = randn(draw, shape, dtype) * np.asarray(draw(st.sampled_from([1, 30])), dtype)
    check_op("BatchNormalization", {"x": x}, n_outputs=3,
             initializers=channel_params(draw, shape[1], dtype), opset=opset, training_mode=1,
             **attrs)


@given(st.data(), st.lists(st.integers(1, 4), min_size=3, max_size=5), st.sampled_from(FLOATS),
       st.floats(1e-6, 0.1))
def test_instance_norm(data, shape, dtype, epsilon):
    """An instance of one element is degenerate: x - mean is rounding noise that ORT divides by
    sqrt(epsilon), so both sides are noise; such shapes are left out."""
    assume(math.prod(shape[2:]) > 1)
    draw = data.draw
    params = channel_params(draw, shape[1], dtype)
    check_op("InstanceNormalization", {"x": randn(draw, shape, dtype)},
             initializers={"scale": params["scale"], "B": params["B"]}, epsilon=epsilon)


@given(st.data(), st.lists(st.integers(1, 5), min_size=1, max_size=4),
       st.sampled_from([1, 3]), st.booleans(), st.sampled_from(FLOATS))
def test_layer_norm(data, shape, n_outputs, with_bias, dtype):
    """Negative and positive axes, optional bias, the Mean/InvStdDev outputs (float32)."""
    draw = data.draw
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    inits = {"scale": randn(draw, shape[axis:], dtype)}
    if with_bias:
        inits["B"] = randn(draw, shape[axis:], dtype)
    check_op("LayerNormalization", {"x": randn(draw, shape, dtype)}, n_outputs=n_outputs,
             initializers=inits, axis=axis, epsilon=draw(st.floats(1e-6, 0.1)))


@given(st.data(), st.integers(1, 7), st.sampled_from([1, 3, 5]), st.sampled_from([9, 13]))
def test_lrn(data, channels, size, opset):
    """ONNX Runtime accepts odd sizes only."""
    draw = data.draw
    check_op("LRN", {"x": randn(draw, [2, channels, 3, 4])}, opset=opset, size=size,
             alpha=draw(st.floats(1e-4, 1.0)), beta=draw(st.floats(0.5, 1.0)),
             bias=draw(st.floats(0.5, 2.0)))


# -- pools ----------------------------------------------------------------------------------

def pool_attrs(draw, window, opset, dilations_since):
    """ONNX attributes of a pool at `opset` (no dilations before `dilations_since`, no
    ceil_mode before 10)."""
    kernel, _, attrs = window
    attrs = {"kernel_shape": kernel, **attrs}
    if opset < dilations_since:
        attrs.pop("dilations", None)
    if opset >= 10 and draw(st.booleans()):
        attrs["ceil_mode"] = 1
    return attrs


@given(st.data(), windows(pool=True), st.sampled_from([9, 10, 12, 21]),
       st.sampled_from(["float32", "float16", "int8", "uint8"]))
def test_max_pool(data, window, opset, dtype):
    draw = data.draw
    if dtype in ("int8", "uint8"):
        opset = max(opset, 12)
        x = draw(st.integers(0, 2**32 - 1))
        info = np.iinfo(dtype)
        x = np.random.default_rng(x).integers(info.min, info.max, endpoint=True,
                                               size=[2, 3] + window[1]).astype(dtype)
    else:
        x = randn(draw, [2, 3] + window[1], dtype)
    check_op("MaxPool", {"x": x}, opset=opset, **pool_attrs(draw, window, opset, 10))


@given(st.data(), windows(pool=True), st.sampled_from([9, 10, 12, 21]),
       st.sampled_from(["float32", "float64", "int8", "uint8"]), st.sampled_from([None, 0, 1]))
def test_max_pool_with_indices(data, window, opset, dtype, storage_order):
    """Indices (and the values beside them: ONNX Runtime's scan) over ties, NaN and -inf, in
    row- or column-major storage_order."""
    draw = data.draw
    if dtype in ("int8", "uint8"):
        opset = max(opset, 12)
    x = np.round(randn(draw, [2, 3] + window[1], np.float64) * 2)
    if dtype.startswith("float"):
        corners = draw(st.lists(st.sampled_from([np.nan, -np.inf, np.inf]), max_size=4))
        x.flat[:len(corners)] = corners
        x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).permutation(x.ravel())
    attrs = pool_attrs(draw, window, opset, 10)
    if storage_order is not None:
        attrs["storage_order"] = storage_order
    check_op("MaxPool", {"x": x.reshape([2, 3] + window[1]).astype(dtype)}, n_outputs=2,
             opset=opset, **attrs)


@given(st.data(), windows(pool=True), st.sampled_from([9, 10, 11, 19, 21]), st.booleans())
def test_average_pool(data, window, opset, count_include_pad):
    """Dilations arrive at opset 19, ceil_mode at opset 10."""
    draw = data.draw
    check_op("AveragePool", {"x": randn(draw, [1, 2] + window[1])}, opset=opset,
             count_include_pad=int(count_include_pad), **pool_attrs(draw, window, opset, 19))


@given(st.data(), windows(max_nd=2, pool=True), st.sampled_from([11, 18]), st.integers(1, 3))
def test_lp_pool(data, window, opset, p):
    """LpPool gains dilations and ceil_mode at opset 18."""
    draw = data.draw
    attrs = pool_attrs(draw, window, opset, 18)
    if opset < 18:
        attrs.pop("ceil_mode", None)
    check_op("LpPool", {"x": randn(draw, [1, 2] + window[1])}, opset=opset, p=p, **attrs)


@given(st.data(), st.lists(st.integers(1, 5), min_size=3, max_size=5),
       st.sampled_from(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]),
       st.sampled_from(FLOATS))
def test_global_pools(data, shape, op, dtype):
    attrs = {"p": data.draw(st.integers(1, 3))} if op == "GlobalLpPool" else {}
    if op == "GlobalLpPool":
        dtype = np.float32
    check_op(op, {"x": randn(data.draw, shape, dtype)}, **attrs)


# -- DepthToSpace, SpaceToDepth -------------------------------------------------------------

@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.sampled_from([9, 11, 13]),
       st.sampled_from(["DCR", "CRD"]), st.sampled_from(["float32", "uint8"]))
def test_depth_to_space(data, blocksize, channels, opset, mode, dtype):
    """DepthToSpace-1 (before opset 11) has no mode: always DCR. Integers need opset 13 in
    ONNX Runtime."""
    x = randn(data.draw, [2, channels * blocksize ** 2, 2, 3]).astype(dtype)
    opset = opset if dtype == "float32" else 13
    attrs = {"mode": mode} if opset >= 11 else {}
    check_op("DepthToSpace", {"x": x}, opset=opset, blocksize=blocksize, **attrs)


@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.sampled_from([9, 13]))
def test_space_to_depth(data, blocksize, channels, opset):
    x = randn(data.draw, [2, channels, 2 * blocksize, 3 * blocksize])
    check_op("SpaceToDepth", {"x": x}, opset=opset, blocksize=blocksize)


# -- errors -----------------------------------------------------------------------------------

X4 = {"x": np.zeros((1, 4, 6, 6), np.float32)}


def test_conv_channel_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match="4 channels.*expects 6"):
        convert("Conv", X4, {"w": np.zeros((2, 3, 3, 3), np.float32)}, group=2)


def test_conv_kernel_shape_must_match_weight():
    with pytest.raises(ShapeError, match=r"kernel_shape \[2, 2\].*\[3, 3\]"):
        convert("Conv", X4, {"w": np.zeros((2, 4, 3, 3), np.float32)}, kernel_shape=[2, 2])


def test_conv_window_larger_than_input():
    with pytest.raises(ShapeError, match="does not fit"):
        convert("Conv", X4, {"w": np.zeros((2, 4, 7, 7), np.float32)})


def test_strides_of_wrong_length():
    with pytest.raises(ShapeError, match="strides.*expected 2"):
        convert("MaxPool", X4, kernel_shape=[2, 2], strides=[1, 1, 1])


def test_unknown_auto_pad():
    with pytest.raises(ShapeError, match="auto_pad 'SAME'"):
        convert("AveragePool", X4, kernel_shape=[2, 2], auto_pad="SAME")


def test_batch_norm_statistics_outputs_need_training_mode():
    params = {k: np.ones(4, np.float32) for k in ("s", "b", "m", "v")}
    with pytest.raises(UnsupportedModelError, match="training_mode=1"):
        convert("BatchNormalization", X4, params, n_outputs=3, training_mode=0, opset=15)
    with pytest.raises(UnsupportedModelError, match="training_mode=1"):
        convert("BatchNormalization", X4, params, n_outputs=5, opset=9)


def test_pool_pads_must_be_below_kernel():
    with pytest.raises(ShapeError, match="smaller than kernel_shape"):
        convert("AveragePool", X4, kernel_shape=[2, 2], pads=[2, 0, 0, 0])


def test_depth_to_space_channels_must_divide():
    with pytest.raises(ShapeError, match="not divisible by blocksize"):
        convert("DepthToSpace", X4, blocksize=3)


def test_layer_norm_scale_shape():
    with pytest.raises(ShapeError, match="normalized shape"):
        convert("LayerNormalization", X4, {"s": np.ones(5, np.float32)}, axis=-1)


def test_converted_conv_carries_every_attribute():
    """auto_pad and missing attributes are resolved: the IR has explicit pads."""
    graph = convert("Conv", X4, {"w": np.zeros((2, 4, 3, 3), np.float32)}, strides=[2, 2],
                    auto_pad="SAME_LOWER")
    (node,) = graph.nodes
    assert dict(node.attrs) == {"strides": (2, 2), "pads": (1, 1, 0, 0), "dilations": (1, 1),
                                "group": 1}
    assert evaluate(graph, X4)["y0"].shape == (1, 2, 3, 3)
