"""Fixtures of the lifecycle suite (helpers in ``runs.py``, imported by the tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from runs import engine, finished_run  # noqa: F401  (fixtures)
