import os
import sys

# Worker processes unpickle the test tasks by module name: make tuning_tasks importable here
# (before any fork server starts, since it copies sys.path once).
sys.path.insert(0, os.path.dirname(__file__))
