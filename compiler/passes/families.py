"""Named op families the passes treat specially (one place, not scattered `if op in` lists)."""

# Two applications to the same inputs may differ: never folded or merged.
NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike",
                              "RandomUniformLike", "Multinomial", "Bernoulli"})

# The result depends on the input's shape only, so static shapes fold without data.
SHAPE_ONLY = frozenset({"Shape", "Size"})
