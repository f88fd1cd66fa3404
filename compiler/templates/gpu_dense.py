"""GPU dense / batch-matmul template (MatMul and Gemm on "cuda"): shared-memory tiles of A and
B, a register tile per thread, the epilogue applied as the tile is written out.

The product is the CPU template's (dense_templates.compute: views giving [M, K] x [K, N],
batched [b, M, K] x [b, K, N], Gemm's transB read as B[j, k]), with B never packed. Per block
a bm x bn tile of the output, per thread a tm x tn register tile:

    for b in blockIdx.z(0, batch):
     for by in blockIdx.y(0, ceil(M/bm)): for bx in blockIdx.x(0, ceil(N/bn)):
      for ty in threadIdx.y(0, bm/tm): for tx in threadIdx.x(0, bn/tn):
        acc = allocate(float32, [tm, tn], local)
        for ic in unrolled(0, tm): for jc in unrolled(0, tn): acc[ic, jc] = 0
        for ko in serial(0, ceil(K/bk)):
          AS = allocate(float32, [bm, bk], shared); barrier()
          <cooperative load: AS[r, c] = A[by*bm + r, ko*bk + c], split over the bm/tm x bn/tn
           threads, vectorized by vector_load, guarded at the M and K edges>; barrier()
          BS = allocate(float32, [bk, bn], shared); barrier(); <same for B>; barrier()
          for ki in unrolled(0, bk):                       # k = ko*bk + ki < K
            for ic in unrolled(0, tm): for jc in unrolled(0, tn):
              acc[ic, jc] += AS[ty*tm + ic, ki] * BS[ki, tx*tn + jc]
        for ri in unrolled(0, tm): for rj in unrolled(0, tn):      # guarded at M, N edges
          D[b, by*bm + ty*tm + ri, bx*bn + tx*tn + rj] = epilogue(acc[ri, rj])

Knobs: bm, bn (block tile), tm, tn (thread tile), bk (k-step), vector_load (1 or 4: float4
loads of the tiles where aligned).
"""

from __future__ import annotations

from .. import te
from .dense_templates import _Dims, _applies, compute, dense_output
from .gpu_common import MAX_THREADS, SHARED_BYTES, cooperative_load, pow2_at_least
from .registry import Template, register_template


def space(node, target=None) -> dict:
    return {"bm": [8, 16, 32, 64, 128], "bn": [16, 32, 64, 128], "tm": [1, 2, 4, 8],
            "tn": [1, 2, 4, 8], "bk": [4, 8, 16, 32], "vector_load": [1, 4]}


def default(node, target=None) -> dict:
    """64 x 64 tiles of 4 x 4 per thread (256 threads) on large products; smaller block
    tiles for few rows or columns (down to a row tile of 8 for M = 1)."""
    d = _Dims(node)
    bm, bn = pow2_at_least(d.M, 8, 64), pow2_at_least(d.N, 16, 64)
    tm, tn = max(1, bm // 16), max(1, bn // 16)
    return {"bm": bm, "bn": bn, "tm": tm, "tn": tn, "bk": 8 if d.K <= 256 else 16,
            "vector_load": 4 if d.K % 4 == 0 and d.N % 4 == 0 else 1}


def check_config(config: dict) -> tuple:
    """(threads x, threads y) of a valid config; TEError naming what is off otherwise."""
    bm, bn, tm, tn, bk = (config[k] for k in ("bm", "bn", "tm", "tn", "bk"))
    if bm % tm or bn % tn:
        raise te.TEError(f"gpu_dense: thread tile {tm}x{tn} must divide block tile {bm}x{bn}")
    threads = (bn // tn, bm // tm)
    if threads[0] * threads[1] > MAX_THREADS:
        raise te.TEError(f"gpu_dense: {threads[0] * threads[1]} threads per block "
                         f"(at most {MAX_THREADS})")
    if (bm + bn) * bk * 4 > SHARED_BYTES:
        raise te.TEError(f"gpu_dense: tiles of {(bm + bn) * bk * 4} bytes exceed "
                         f"{SHARED_BYTES} of shared memory")
    return threads


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    threads = check_config(config)
    out, C = dense_output(outs, anchor)
    s = te.create_schedule([out])
    CL = s.cache_write(C, "local")
    for st in list(s.stages):
        if st.tensor not in (out, CL):
            st.compute_inline()  # C's copy-out, the views and the epilogue
    O = s[out]
    *batch, i, j = out.op.axis
    by, ii = O.split(i, config["bm"])
    ty, ri = O.split(ii, config["tm"])
    bx, jj = O.split(j, config["bn"])
    tx, rj = O.split(jj, config["tn"])
    O.reorder(*batch, by, bx, ty, tx, ri, rj)
    for axis, index in zip(batch + [by, bx, ty, tx],
                           ["blockIdx.z"] * len(batch) + ["blockIdx.y", "blockIdx.x",
                                                          "threadIdx.y", "threadIdx.x"]):
        O.bind(axis, index)
    O.unroll(ri)
    O.unroll(rj)
    L = s[CL]
    L.compute_at(O, tx)
    *cb, ic, jc = CL.op.axis
    (k,) = CL.op.reduce_axis
    ko, ki = L.split(k, config["bk"])
    L.reorder(*cb, ko, ki, ic, jc)
    for axis in (ki, ic, jc):
        L.unroll(axis)
    for operand in CL.op.input_tensors():
        tile = s.cache_read(operand, "shared", [CL])
        cooperative_load(s, tile, CL, ko, threads, config["vector_load"])
    return s


GPU_DENSE = register_template(Template(
    name="gpu_dense", ops=frozenset({"MatMul", "Gemm"}), compute=compute, schedule=schedule,
    space=space, default=default, applies=_applies, target_kinds=frozenset({"cuda"})))
