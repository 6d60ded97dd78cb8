# SPDX-License-Identifier: ISC
"""Run ``cat F | cat | cat | cat`` through cuprum and report what happened.

Usage: python3 examples/pipeline.py FILE

The programs come from a catalogue of this example's own (cuprum runs only
catalogued programs); the stages are joined by kernel pipes and only the
last stage's output is captured.
"""

from __future__ import annotations

import os
import sys
import time

import cuprum
from cuprum import Program, ProgramCatalogue, ProjectSettings, sh

CAT = Program("cat")
CATALOGUE = ProgramCatalogue(
    projects=(
        ProjectSettings(
            name="example",
            programs=(CAT,),
            documentation_locations=(),
            noise_rules=(),
        ),
    )
)


def main(path: str) -> int:
    """Run the pipeline on ``path``; return 0 when the output is complete."""
    cat = sh.make(CAT, catalogue=CATALOGUE)
    pipeline = cat(path) | cat() | cat() | cat()
    started = time.perf_counter()
    result = pipeline.run_sync()
    elapsed = time.perf_counter() - started
    size = os.path.getsize(path)
    # The sample payloads are ASCII, so characters and bytes agree.
    captured = len(result.stdout)
    print(
        f"cuprum {cuprum.get_stream_backend()} backend: cat F | cat | cat | cat "
        f"-> {captured} characters from {size} bytes, exit codes "
        f"{[stage.exit_code for stage in result.stages]}, {elapsed:.3f} s"
    )
    return 0 if result.ok and captured == size else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 examples/pipeline.py FILE")
    sys.exit(main(sys.argv[1]))
