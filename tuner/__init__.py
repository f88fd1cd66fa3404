"""tensorforge.tuner: config spaces, loop-IR features, an XGBoost cost model, search,
isolated measurement and the tuning database (see docs and each module's docstring)."""

from .api import TaskResult, TuneSummary, tune
from .cost_model import XGBCostModel
from .database import DatabaseError, Record, RecordWarning, TuningDatabase, WorkloadStats
from .extract import extract_tasks
from .features import FEATURE_LENGTH, featurize
from .measure import LocalMeasurer, MeasureResult
from .node_task import NodeTask
from .search import GridTuner, RandomTuner, Tuner, XGBTuner, make_tuner
from .space import Config, ConfigSpace, SpaceError
from .task import Task, TirTask
from .tune import ProgressBar, TuneState, tune_task

__all__ = ["tune", "TuneSummary", "TaskResult", "extract_tasks", "NodeTask", "XGBCostModel",
           "DatabaseError", "Record", "RecordWarning", "TuningDatabase", "WorkloadStats",
           "FEATURE_LENGTH", "featurize", "LocalMeasurer", "MeasureResult", "GridTuner",
           "RandomTuner", "Tuner", "XGBTuner", "make_tuner", "Config", "ConfigSpace",
           "SpaceError", "Task", "TirTask", "ProgressBar", "TuneState", "tune_task"]
