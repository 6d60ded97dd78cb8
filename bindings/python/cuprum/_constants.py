# SPDX-License-Identifier: ISC
"""Package-wide constants.

Kept in a leaf module so every other module can import them without
creating import cycles.
"""

from __future__ import annotations

PACKAGE_NAME = "cuprum"

#: Default character encoding used to decode child output.
DEFAULT_ENCODING = "utf-8"
#: Default codec error policy used to decode child output.
DEFAULT_ERRORS = "replace"
#: Default seconds between SIGTERM and SIGKILL when stopping a child.
DEFAULT_CANCEL_GRACE = 0.5

__all__ = ["DEFAULT_CANCEL_GRACE", "DEFAULT_ENCODING", "DEFAULT_ERRORS", "PACKAGE_NAME"]
