# SPDX-License-Identifier: ISC
"""What every pathway module shares: trial types, failures, cuprum's setup.

A *factory* takes the payload path and returns a *trial*: a callable that
runs the scenario once and returns the figure a correct run must produce.
A factory raises :class:`Missing` when its peer cannot run here, and
:class:`Skipped` when the cuprum under test lacks the API the scenario
measures (a scenario written ahead of the API, reported with the reason and
never with a number).
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import shutil
import typing as typ

Trial = cabc.Callable[[], int]
Factory = cabc.Callable[[str], Trial]


class Missing(Exception):
    """The pathway cannot run here (peer not installed, extension absent)."""


class Skipped(Exception):
    """The cuprum under test has no API for this scenario (yet)."""


def which(name: str) -> str:
    """Return the path of ``name`` on PATH, or raise :class:`Missing`."""
    path = shutil.which(name)
    if path is None:
        raise Missing(f"{name} not found on PATH")
    return path


class Cuprum:
    """The catalogue and builders cuprum's public API needs for the bench."""

    def __init__(self) -> None:
        try:
            import cuprum
        except ImportError as exc:
            raise Missing(f"cuprum not importable: {exc}") from exc
        try:
            self.backend = cuprum.get_stream_backend()
        except ImportError as exc:
            raise Missing(str(exc)) from exc
        self.mod = cuprum
        project = cuprum.ProjectSettings(
            name="bench",
            programs=tuple(cuprum.Program(n) for n in ("cat", "true", "wc")),
            documentation_locations=(),
            noise_rules=(),
        )
        self.catalogue = cuprum.ProgramCatalogue(projects=(project,))
        self.cat = cuprum.sh.make(cuprum.Program("cat"), catalogue=self.catalogue)
        self.true = cuprum.sh.make(cuprum.Program("true"), catalogue=self.catalogue)

    def output_options(self, **fields: object) -> typ.Any:
        """``RunOutputOptions(**fields)``, or :class:`Skipped` naming a field it lacks."""
        options: typ.Any = self.mod.RunOutputOptions
        known = {f.name for f in dc.fields(options)}
        for name in fields:
            if name not in known:
                raise Skipped(
                    f"cuprum.RunOutputOptions has no {name!r} field (fields: {', '.join(sorted(known))})"
                )
        return options(**fields)


__all__ = ["Cuprum", "Factory", "Missing", "Skipped", "Trial", "which"]
