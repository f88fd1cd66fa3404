"""tensorforge.runtime: the static memory planner, linking, the executor and the Module."""

from .graph_plan import plan_graph
from .memory_plan import MemoryPlan, MemoryPlanError, Step, plan_memory

__all__ = ["MemoryPlan", "MemoryPlanError", "Step", "plan_graph", "plan_memory"]
