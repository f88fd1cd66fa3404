"""Loop-nest pieces every GPU template uses: a flat block x thread split, and the cooperative
load of a shared-memory tile (cache_read's stage split over the block's threads)."""

from __future__ import annotations

from ..aligned import round_up
from ..tir import CUDA_LIMITS

WARP = CUDA_LIMITS["warp_size"]
MAX_THREADS = CUDA_LIMITS["max_threads_per_block"]
SHARED_BYTES = CUDA_LIMITS["shared_memory_per_block"]   # static shared memory per block


def pow2_at_least(n: int, lo: int, hi: int) -> int:
    """The smallest power-of-two multiple of `lo` that is >= n, at most `hi`."""
    p = lo
    while p < n and p < hi:
        p *= 2
    return p


def round_threads(threads: int, work: int) -> int:
    """`threads`, but no more warps than `work` items need."""
    return max(WARP, min(threads, round_up(work, WARP)))


def fuse_all(stage, axes):
    """One loop over `axes` (adjacent, outermost first)."""
    return stage.fuse(*axes) if len(axes) > 1 else axes[0]


def bind_flat(stage, axes, threads: int):
    """`axes` fused, then one thread per point:

        for b in blockIdx.x(0, ceil(n / threads)):
          for t in threadIdx.x(0, threads):        # point b * threads + t, guarded at n

    Returns the thread loop (where per-thread producers go)."""
    b, t = stage.split(fuse_all(stage, axes), threads)
    stage.bind(b, "blockIdx.x")
    stage.bind(t, "threadIdx.x")
    return t


def cooperative_load(s, cache, reader, at, threads: tuple, vector: int = 1) -> None:
    """Compute `cache` (cache_read into shared memory) at `reader`'s loop `at`; the tile's
    points, flattened, are spread over the block's threads (tx, ty) = `threads`:

        for o in serial(0, ceil(tile / (tx * ty * vector))):
          for y in threadIdx.y(0, ty): for x in threadIdx.x(0, tx):
            for v in vectorized(0, vector):      # float4 loads where aligned
              tile[((o * ty + y) * tx + x) * vector + v] = src[...]   # guarded at the end
    """
    st = s[cache]
    st.compute_at(s[reader], at)
    flat = fuse_all(st, list(cache.op.axis))
    if vector > 1:
        flat, lane = st.split(flat, vector)
        st.vectorize(lane)
    tx, ty = threads
    rest, x = st.split(flat, tx)
    st.bind(x, "threadIdx.x")
    if ty > 1:
        _, y = st.split(rest, ty)
        st.bind(y, "threadIdx.y")
