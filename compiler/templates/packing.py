"""Compile-time weight layouts: blocks of the leading (output-channel) axis moved innermost.

    out[jo, r..., ji] = a[jo * block + ji, r...]   (0 where jo * block + ji >= len(a))

Dense B panels ([N, K] -> [ceil(N/nr), K, nr]) and conv OIHW -> [ceil(OC/oc_bn), Cg, KH, KW,
oc_bn] are both this. The result is written block by block into one aligned array (no padded
or transposed temporary of the whole weight), which linking passes to kernels as it is.
"""

from __future__ import annotations

import numpy as np

from ..aligned import aligned_empty


def blocked(a: np.ndarray, block: int) -> np.ndarray:
    """`a` ([n, r...]) re-laid out as [ceil(n / block), r..., block], zero padded."""
    n, rest = a.shape[0], a.shape[1:]
    full, tail = divmod(n, block)
    out = aligned_empty((full + (tail > 0),) + rest + (block,), a.dtype)
    inner = tuple(range(1, len(rest) + 1))
    np.copyto(out[:full], a[:full * block].reshape((full, block) + rest)
              .transpose((0,) + tuple(d + 1 for d in inner) + (1,)))
    if tail:
        out[full, ..., :tail] = a[full * block:].transpose(inner + (0,))
        out[full, ..., tail:] = 0
    return out
