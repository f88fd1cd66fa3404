"""Aligned layout: regions laid end to end (the executor's output buffers, the CUDA module's
device slots) each start on the alignment, never overlap, and waste less than one alignment
each."""

from hypothesis import given
from hypothesis import strategies as st

from tensorforge.compiler.aligned import aligned_offsets, round_up

alignments = st.sampled_from([1, 16, 64, 256])


@given(st.integers(0, 10_000), alignments)
def test_round_up_is_the_next_multiple(n, alignment):
    r = round_up(n, alignment)
    assert r % alignment == 0 and n <= r < n + alignment


@given(st.lists(st.integers(0, 5_000), max_size=12), alignments)
def test_regions_are_aligned_disjoint_and_tight(sizes, alignment):
    offsets, total = aligned_offsets(sizes, alignment)
    assert len(offsets) == len(sizes)
    assert all(o % alignment == 0 for o in offsets)
    ends = [o + n for o, n in zip(offsets, sizes)]
    assert all(end <= nxt for end, nxt in zip(ends, offsets[1:]))   # in order, disjoint
    assert all(end <= total for end in ends)
    assert total == sum(round_up(n, alignment) for n in sizes)
