# SPDX-License-Identifier: ISC
"""What the execution core needs from a command: program, argv, project
name, and where its stdout and stderr are redirected.

The core is typed against this protocol rather than ``cuprum.sh.SafeCmd``, so
it never imports the public modules that build commands and import the core.
"""

from __future__ import annotations

import typing as typ

if typ.TYPE_CHECKING:
    from cuprum._redirects import Redirects
    from cuprum.program import Program


class Project(typ.Protocol):
    """The owning project, as far as the core is concerned."""

    @property
    def name(self) -> str:
        """The project's name (tagged on every event)."""


class Command(typ.Protocol):
    """A curated command: what to execute and who curates it."""

    @property
    def program(self) -> Program:
        """The catalogued program (argv[0])."""

    @property
    def argv(self) -> tuple[str, ...]:
        """The arguments after the program."""

    @property
    def project(self) -> Project:
        """The project owning the program."""

    @property
    def redirects(self) -> Redirects | None:
        """Where stdout and stderr go instead of cuprum's pipes, if anywhere."""


__all__ = ["Command", "Project"]
