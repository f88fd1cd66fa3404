"""tensorforge.runtime: the static memory planner (executor, module save/load to come)."""

from .graph_plan import plan_graph
from .memory_plan import MemoryPlan, MemoryPlanError, Step, plan_memory

__all__ = ["MemoryPlan", "MemoryPlanError", "Step", "plan_graph", "plan_memory"]
