"""Data-movement ops and Resize lowered, built and run against the reference executor."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lower_testing import check_graph, single
from tensorforge.compiler import GraphBuilder

dims = st.integers(1, 23)


@given(dims, dims, dims)
def test_reshape_transpose(a, b, c):
    single("Reshape", [(a, b, c)], {"shape": (a * b, c)})
    single("Reshape", [(a, b * c)], {"shape": (a, b, 1, c)})
    single("Reshape", [(a, b, c)], {"shape": (a * b * c,)})
    single("Transpose", [(a, b, c)], {"perm": (2, 0, 1)})


@given(dims, dims, dims)
def test_concat_split_slice(a, b, c):
    single("Concat", [(a, b), (a, c), (a, 1)], {"axis": 1})
    single("Split", [(a + c, b)], {"axis": 0, "split": (a, c)})
    single("Slice", [(a + 2, b + 3)], {"starts": (1, b + 2), "ends": (a + 2, -1), "axes": (0, 1),
                                        "steps": (1, -2)})


def test_gather_clamps_and_wraps():
    b = GraphBuilder()
    table = b.input("t", (7, 19), "float32")
    idx = b.input("i", (2, 5), "int64")
    out = b.emit1("Gather", [table, idx], {"axis": 0})
    ids = np.array([[0, 6, -1, -7, 3], [2, 2, 5, 1, 0]], np.int64)
    check_graph(b.build([out]), [np.random.rand(7, 19).astype("float32"), ids], fuse=False)
    (k,) = check_graph(b.build([out]), [np.random.rand(7, 19).astype("float32"), ids])
    from lower_testing import run_kernel
    bad = np.array([[100, -100, 0, 0, 0], [0] * 5], np.int64)
    env = {k.inputs[0]: np.arange(7 * 19, dtype="float32").reshape(7, 19), k.inputs[1]: bad}
    (got,) = run_kernel(k, env)
    assert (got[0, 0] == env[k.inputs[0]][6]).all() and (got[0, 1] == env[k.inputs[0]][0]).all()


@pytest.mark.parametrize("shape,ids,axis", [((5, 6), np.array(-2, np.int64), 0),
                                            ((3, 5, 6), np.array([4, 0, -5, 2], np.int32), 1)])
def test_gather_scalar_index_and_axis1(shape, ids, axis):
    b = GraphBuilder()
    x = b.input("x", shape, "float32")
    out = b.emit1("Gather", [x, b.const(ids)], {"axis": axis})
    check_graph(b.build([out]), [np.random.rand(*shape).astype("float32")], fuse=False)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad(mode):
    single("Pad", [(2, 5, 7)], {"pads": (0, 2, 3, 0, 1, 4), "mode": mode, "value": 1.5})
    single("Pad", [(3, 9)], {"pads": (-1, 2, 0, -3), "mode": mode, "value": 0.0})


def test_expand_tile_trilu_depth():
    single("Expand", [(3, 1)], {"shape": (2, 3, 17)})
    single("Tile", [(2, 3)], {"repeats": (2, 5)})
    single("Trilu", [(2, 5, 7)], {"upper": 1, "k": 1})
    single("Trilu", [(5, 7)], {"upper": 0, "k": -1})
    single("DepthToSpace", [(1, 8, 3, 5)], {"blocksize": 2, "mode": "DCR"})
    single("DepthToSpace", [(1, 8, 3, 5)], {"blocksize": 2, "mode": "CRD"})
    single("SpaceToDepth", [(2, 3, 4, 6)], {"blocksize": 2})


RESIZE = dict(cubic_coeff_a=-0.75, exclude_outside=0, extrapolation_value=0.0, antialias=0,
              nearest_mode="round_prefer_floor")


@pytest.mark.parametrize("mode,ctm", [("nearest", "asymmetric"), ("nearest", "half_pixel"),
                                      ("linear", "half_pixel"), ("linear", "align_corners"),
                                      ("cubic", "half_pixel"),
                                      ("linear", "tf_crop_and_resize")])
def test_resize(mode, ctm):
    roi = (0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7) if ctm == "tf_crop_and_resize" else (0,) * 8
    attrs = dict(RESIZE, mode=mode, coordinate_transformation_mode=ctm, sizes=(1, 2, 10, 7),
                 scales=(1.0, 1.0, 2.0, 1.75), roi=roi)
    single("Resize", [(1, 2, 5, 4)], attrs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("ctm", ["half_pixel", "align_corners"])
def test_resize_antialias_downsampling(mode, ctm):
    """Wide filters (1 / scale more taps per axis) and align_corners' fractional length."""
    attrs = dict(RESIZE, mode=mode, coordinate_transformation_mode=ctm, antialias=1,
                 sizes=(1, 2, 3, 4), scales=(1.0, 1.0, 0.3, 0.6), roi=(0,) * 8)
    single("Resize", [(1, 2, 10, 7)], attrs, rtol=1e-4, atol=1e-5)
