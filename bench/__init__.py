# SPDX-License-Identifier: ISC
"""cuprum's benchmark: every pathway and peer measured in the same run.

Run ``python3 -m bench`` from the repository root, or ``python3 bench/run.py``.
Each (scenario, payload size, pathway) cell runs in a fresh worker process so
that the stream backend choice (cached per process) and peak-RSS figures are
clean. Timings are reported as medians with their spread and as ratios to
the shell floor measured in the same run; nothing here asserts on time.
"""

from __future__ import annotations

import sys

# The benchmark never writes into the source tree, bytecode caches included.
sys.dont_write_bytecode = True

__all__: list[str] = []
