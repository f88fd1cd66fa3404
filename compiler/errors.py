"""Error types: every failure a user can cause names the problem in one readable message."""


class TensorForgeError(Exception):
    """Base class of every error TensorForge raises on purpose."""


class ModelError(TensorForgeError):
    """The ONNX model is malformed (onnx.checker's message), truncated or unreadable."""


class UnsupportedModelError(TensorForgeError):
    """The model uses operators (or opsets, or domains) TensorForge does not convert.

    `unsupported` lists every (op_type, opset, node name) found, so a user sees them all at once.
    """

    def __init__(self, unsupported: list[tuple[str, int, str]], reason: str = ""):
        self.unsupported = unsupported
        rows = "\n".join(f"  - {op} (opset {ver}) at node '{name}'" for op, ver, name in unsupported)
        head = f"model uses {len(unsupported)} unsupported operator node(s)"
        super().__init__(f"{head}{': ' + reason if reason else ''}:\n{rows}")


class ShapeError(TensorForgeError):
    """Shapes or dtypes do not agree; the message names the node and both shapes."""


class GraphError(TensorForgeError):
    """The graph IR breaks an invariant (SSA, topological order, inferred types)."""


class InputError(TensorForgeError):
    """Inputs given by the caller do not match what the model declares."""
