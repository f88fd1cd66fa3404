"""Dense / matmul template: a register-blocked micro-kernel with B packed into column panels.

    C = dense(A, B, config)          # A [M, K] (or [b, M, K]), B [K, N] (or [N, K], [b, K, N])
    D = te.compute(C.shape, lambda i, j: te.max(C[i, j] + bias[j], 0.0))   # optional epilogue
    s = dense_schedule([D], config, target)

With pack_b, a first stage copies B into panels of nr columns, zero padded:

    for jo in parallel(0, ceil(N/nr)):           # Bp: [ceil(N/nr), K, nr]
      for k in serial(0, K):
        for ji in vectorized(0, nr): Bp[jo, k, ji] = B[k, jo*nr + ji] if jo*nr + ji < N else 0

then each mr x nr tile of the output accumulates in registers (cache_write "local" computed
at the tile) and the epilogue is applied on the tile as it is written out:

    for io.o in parallel(0, ceil(M/mr/mb)):      # order "io_jo" (mb = 1: no io.i loop);
      for jo in serial(0, ceil(N/nr)):           #   "jo_io" swaps the roles of rows and
       for io.i in serial(0, mb):                #   columns: for jo.o: for io: for jo.i in mb
                                                 # io = io.o*mb + io.i; an mb*mr x K block of A
                                                 #   and a K x nr panel of Bp stay in L2
        acc = allocate(float32, [mr, nr], local)
        for ii in unrolled(0, mr): for ji in vectorized(0, nr): acc[ii, ji] = 0
        for ko in serial(0, ceil(K/kc)):
          for ki in unrolled(0, kc):                 # k = ko*kc + ki (guarded when kc ∤ K)
            for ii in unrolled(0, mr): for ji in vectorized(0, nr):
              acc[ii, ji] += A[io*mr + ii, k] * Bp[jo, k, ji]
        for ii in unrolled(0, mr): for ji in vectorized(0, nr):
          D[io*mr + ii, jo*nr + ji] = epilogue(acc[ii, ji])      # guarded at M, N edges

A batch axis (3-d A) is fused with the outer parallel loop. Knobs (see dense_space): mr, nr
(register tile; nr a multiple of the vector width), kc (k unrolling), mb (tiles per block of
the inner tile loop: row tiles for "io_jo", column panels for "jo_io"), pack_b, order,
parallel ("outer": the outermost tile loop, "fused": both tile loops fused, "none").
"""

from __future__ import annotations

from .. import te
from ..te import TEError


def _target(target):
    from tensorforge.codegen import Target
    if target is None:
        return Target.parse("llvm")
    return target if isinstance(target, Target) else Target.parse(target)


def _lanes(target) -> int:
    return _target(target).vector_bits // 32


def _registers(target) -> int:
    return 32 if _target(target).vector_bits >= 512 else 16


MRS = (1, 2, 4, 6, 8, 12, 16)
MBS = (1, 2, 4, 8, 16)


def _column_tiles(target) -> list[int]:
    return [n * _lanes(target) for n in (1, 2, 3, 4)]


def _blocks(M: int, N: int, target) -> list[int]:
    """mb candidates: 1 and those leaving more than one block of the smallest row tiles or
    column panels. A block of all tiles is the other order's mb = 1 schedule, so a value
    making one block for every tile size adds only duplicates. (Small shapes keep a few
    duplicates: one block at the larger tiles, or a single panel under "jo_io".)"""
    most = max(-(-M // MRS[0]), -(-N // _column_tiles(target)[0]))
    return [b for b in MBS if b == 1 or b < most]


def dense_space(M: int, N: int, K: int, target=None) -> dict:
    """Knob -> candidate values; register tiles that would not fit the register file are left
    out (mr * nr / lanes accumulators plus a few registers for A and B)."""
    lanes, regs = _lanes(target), _registers(target)
    nrs = _column_tiles(target)
    return {
        "mr": [m for m in MRS if any(m * n // lanes + n // lanes + 1 <= regs for n in nrs)],
        "nr": nrs,
        "kc": [1, 2, 4, 8],
        "mb": _blocks(M, N, target),
        "pack_b": [True, False],
        "order": ["io_jo", "jo_io"],
        "parallel": ["outer", "fused", "none"],
    }


def default_config(M: int, N: int, K: int, target=None) -> dict:
    """Two vector registers of columns, as many rows as keep ~12-16 accumulators, a row
    count dividing M when one exists (no edge guards; fewer rows than that: the smallest
    tile holding them all), B packed when there are enough rows, blocks of up to 64 rows
    that leave at least two blocks. A point of dense_space."""
    lanes, regs = _lanes(target), _registers(target)
    nr = 2 * lanes if N > lanes else lanes
    rows = (8, 6, 4) if regs >= 32 else (6, 4)
    mr = next((m for m in rows if M % m == 0), rows[1] if M >= rows[1] else
              min(m for m in MRS if m >= M))
    mb = max(b for b in _blocks(M, N, target) if b <= max(1, min(64 // mr, -(-M // mr) // 2)))
    return {"mr": mr, "nr": nr, "kc": 1, "mb": mb, "pack_b": M >= 2 * mr and K * N >= 4096,
            "order": "io_jo", "parallel": "outer"}


def dense(A, B, config: dict, transpose_b: bool = False, name: str = "dense"):
    """C[..., i, j] = sum_k A[..., i, k] * B[k, j] (B[j, k] with transpose_b); B may carry
    the batch dim too. With config["pack_b"], B is first copied into [ceil(N/nr), K, nr]."""
    batch = A.shape[:-2]
    if len(batch) > 1:
        raise TEError(f"dense: A must be [M, K] or [b, M, K], got {list(A.shape)}")
    M, K = A.shape[-2:]
    bk, bn = (-1, -2) if transpose_b else (-2, -1)
    N = B.shape[bn]
    if B.shape[bk] != K or B.ndim - 2 not in (0, len(batch)) or (B.ndim == 3 and B.shape[0] != batch[0]):
        raise TEError(f"dense: shapes {list(A.shape)} and {list(B.shape)} do not contract")
    k = te.reduce_axis((0, K), name="k")
    nr = config.get("nr")  # only packing uses it

    def b_at(bidx, kk, j):
        pre = (bidx,) if B.ndim == 3 else ()
        return B[pre + ((j, kk) if transpose_b else (kk, j))]

    if config.get("pack_b"):
        npan = -(-N // nr)
        pshape = ((batch[0],) if B.ndim == 3 else ()) + (npan, K, nr)

        def pack(*ax):
            bidx = ax[0] if B.ndim == 3 else None
            jo, kk, ji = ax[-3:]
            j = jo * nr + ji
            return te.if_then_else(j < N, b_at(bidx, kk, j), te.const(0, B.dtype))

        fpack = (lambda b, jo, kk, ji: pack(b, jo, kk, ji)) if B.ndim == 3 else \
            (lambda jo, kk, ji: pack(jo, kk, ji))
        Bp = te.compute(pshape, fpack, name=f"{name}.pack", tag="dense_pack")

        def read_b(bidx, kk, j):
            pre = (bidx,) if B.ndim == 3 else ()
            return Bp[pre + (j // nr, kk, j % nr)]
    else:
        read_b = b_at
    if batch:
        return te.compute((batch[0], M, N), lambda b, i, j: te.sum(A[b, i, k] * read_b(b, k, j),
                                                                   axis=k), name=name, tag="dense")
    return te.compute((M, N), lambda i, j: te.sum(A[i, k] * read_b(None, k, j), axis=k),
                      name=name, tag="dense")


def dense_schedule(outs, config: dict, target=None, anchor=None) -> te.Schedule:
    """Schedule `outs` (one output: the dense tensor or an elementwise epilogue of it)."""
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    if len(outs) != 1:
        raise TEError("dense_schedule: expects exactly one output tensor")
    out = outs[0]
    C = anchor if anchor is not None else te.find_tagged(outs, "dense")
    if C is None:
        raise TEError("dense_schedule: no dense compute (tag 'dense') reaches the output")
    if out.shape != C.shape:
        raise TEError(f"dense_schedule: epilogue output {list(out.shape)} must have the dense "
                      f"shape {list(C.shape)}")
    mr, nr, kc = config["mr"], config["nr"], config.get("kc", 1)
    s = te.create_schedule(outs)
    packed = te.find_tagged([C], "dense_pack")
    CL = s.cache_write(C, "local")
    for st in list(s.stages):
        if st.tensor not in (out, CL) and st.tensor is not packed:
            s[st.tensor].compute_inline()  # C's copy-out and elementwise epilogue stages
    O = s[out]
    *b, i, j = out.op.axis
    io, jo, ii, ji = O.tile(i, j, mr, nr)
    mb = config.get("mb", 1)
    at = None
    outer, inner = (jo, io) if config.get("order", "io_jo") == "jo_io" else (io, jo)
    if mb > 1:  # blocks of mb tiles of the outer loop, whose operand block stays in L2
        first, at = O.split(outer, mb)
        O.reorder(first, inner, at, ii, ji)
        second = inner
    else:
        O.reorder(outer, inner, ii, ji)
        first, second = outer, inner
    if b:
        first = O.fuse(b[0], first)
    par = config.get("parallel", "outer")
    if par == "fused":
        first = O.fuse(first, second)
        second = first
    at = at or second
    if par != "none":
        O.parallel(first)
    O.unroll(ii)
    O.vectorize(ji)
    s[CL].compute_at(O, at)
    *_, ic, jc = CL.op.axis
    (kk,) = CL.op.reduce_axis
    if kc > 1:
        ko, ki = s[CL].split(kk, kc)
        s[CL].reorder(ko, ki, ic, jc)
        s[CL].unroll(ki)
    else:
        s[CL].reorder(kk, ic, jc)
    s[CL].unroll(ic)
    s[CL].vectorize(jc)
    if packed is not None:
        P = s[packed]
        *pb, pj, pk, pji = packed.op.axis
        P.vectorize(pji)
        P.parallel(P.fuse(pb[0], pj) if pb else pj)
    return s
