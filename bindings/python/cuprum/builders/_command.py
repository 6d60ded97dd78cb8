# SPDX-License-Identifier: ISC
"""Turn a builder's validated argv into a curated ``SafeCmd``.

The builders compute their argv as plain tuples (pure, testable without the
execution layer) and only at the end ask ``cuprum.sh.make`` for the command.
"""

from __future__ import annotations

import typing as typ

from cuprum import catalogue, sh

if typ.TYPE_CHECKING:
    import collections.abc as cabc

# The catalogue constant each builder targets; all live in the default
# catalogue's core-ops project, as in the original cuprum.
ProgramName = typ.Literal["GIT", "RSYNC", "TAR"]


def build_command(program: ProgramName, argv: cabc.Iterable[str]) -> sh.SafeCmd:
    """Return ``sh.make(<catalogue program>)(*argv)`` for a builder.

    Parameters
    ----------
    program:
        Name of the ``cuprum.catalogue`` constant (``"GIT"``, ``"RSYNC"`` or
        ``"TAR"``) whose program the command runs.
    argv:
        Arguments after the program name, already validated by the builder.

    Returns
    -------
    SafeCmd
        The curated command, checked against the default catalogue.
    """
    return sh.make(getattr(catalogue, program))(*argv)


__all__: list[str] = []
