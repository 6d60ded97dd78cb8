# SPDX-License-Identifier: ISC
"""The ``Program`` type: the name of a curated executable.

A ``NewType`` over ``str`` so type checkers can tell a vetted program name
from an arbitrary string, at no runtime cost.
"""

from __future__ import annotations

import typing as typ

Program = typ.NewType("Program", str)

__all__ = ["Program"]
