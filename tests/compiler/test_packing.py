"""Compile-time weight packing: the blocked layout (dense panels, conv OIHW16o) against its
definition, written into aligned memory, and compile's streaming (an original weight is not
kept once its kernel holds the packed form)."""

import gc
import weakref

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lower_testing import HOST, rand
from tensorforge.compiler import GraphBuilder, optimize
from tensorforge.compiler.aligned import ALIGNMENT
from tensorforge.compiler.lower import lower_graph
from tensorforge.compiler.templates.packing import blocked


@given(st.integers(1, 40), st.lists(st.integers(1, 5), max_size=3), st.integers(1, 17),
       st.booleans())
def test_blocked_matches_its_definition(n, rest, block, transposed):
    """out[jo, r..., ji] = a[jo * block + ji, r...], zero past n; `a` may be a strided view."""
    a = rand((n, *rest), n)
    if transposed and rest:  # a transposed view, as dense packs B^T from a [K, N] weight
        a = np.ascontiguousarray(np.moveaxis(a, 0, -1)).transpose((len(rest),) + tuple(
            range(len(rest))))
    panels = -(-n // block)
    padded = np.zeros((panels * block, *rest), a.dtype)
    padded[:n] = a
    want = np.moveaxis(padded.reshape(panels, block, *rest), 1, -1)
    got = blocked(a, block)
    np.testing.assert_array_equal(got, want)
    assert got.flags.c_contiguous and got.ctypes.data % ALIGNMENT == 0


def test_lowering_a_node_list_releases_the_original_weights():
    """lower_graph over a list of nodes empties it; the kernels hold the packed weights only,
    so the originals are freed once nothing else holds the graph."""
    b = GraphBuilder()
    h = b.input("x", (8, 32), "float32")
    for i in range(3):
        h = b.emit1("MatMul", [h, b.const(rand((32, 32), i))])
    graph = optimize(b.build([h]))
    nodes = list(graph.nodes)
    originals = [weakref.ref(v.data) for n in nodes for v in n.inputs if v.is_const]
    assert len(originals) == 3
    del graph, b
    kernels = lower_graph(nodes, HOST)
    gc.collect()
    assert nodes == [None] * 3 and len(kernels) == 3
    assert all(r() is None for r in originals)
    assert all(v.name.endswith(".packed") for k in kernels for v in k.inputs if v.is_const)
