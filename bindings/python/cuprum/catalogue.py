# SPDX-License-Identifier: ISC
"""The program catalogue: which executables cuprum may build commands for.

Every command starts from a :class:`Program` that must be listed by exactly one
project in a :class:`ProgramCatalogue`. Looking up anything else raises
:class:`UnknownProgramError`, so an unvetted executable can never be turned
into a command.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import typing as typ
from types import MappingProxyType

from cuprum.program import Program


class UnknownProgramError(LookupError):
    """Raised when a program is not listed in the catalogue."""


class DuplicateProjectError(ValueError):
    """Raised when two projects of one catalogue share a name.

    Attributes
    ----------
    project_name:
        The name registered more than once.
    """

    def __init__(self, project_name: str) -> None:
        """Name the duplicated project."""
        self.project_name = project_name
        super().__init__(f"Project '{project_name}' registered more than once")

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy through the constructor, attributes intact."""
        return (type(self), (self.project_name,), self.__dict__)


class DuplicateProgramError(ValueError):
    """Raised when a program is listed by two projects of one catalogue.

    Attributes
    ----------
    program:
        The program listed twice.
    owner:
        The name of the project that listed it first.
    """

    def __init__(self, program: str, owner: str) -> None:
        """Name the program and the project that already owns it."""
        self.program = program
        self.owner = owner
        super().__init__(f"Program '{program}' already owned by '{owner}'")

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy through the constructor, attributes intact."""
        return (type(self), (self.program, self.owner), self.__dict__)


@dc.dataclass(frozen=True, slots=True)
class ProjectSettings:
    """Metadata shared by the programs one project curates.

    Attributes
    ----------
    name:
        Unique project name.
    programs:
        Programs the project owns.
    documentation_locations:
        Where the project's programs are documented.
    noise_rules:
        Regular expressions describing output lines that are noise.

    The three collections are stored as tuples of ``str``: any other
    iterable (a list, say) is copied into one, so the settings stay
    hashable and cannot change under a catalogue built from them. A single
    string, a non-iterable or a non-``str`` item is a ``TypeError``.
    """

    name: str
    programs: tuple[Program, ...]
    documentation_locations: tuple[str, ...]
    noise_rules: tuple[str, ...]

    def __post_init__(self) -> None:
        """Store each collection as a tuple of ``str``.

        A single string is refused, not split: ``"echo"`` as ``programs``
        would own every substring of it.
        """
        for field in ("programs", "documentation_locations", "noise_rules"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)):
                msg = (
                    f"ProjectSettings.{field} must be a tuple, not a "
                    f"{type(value).__name__} ({value!r}); write ({value!r},)"
                )
                raise TypeError(msg)
            if not isinstance(value, cabc.Iterable):
                msg = f"ProjectSettings.{field} must be a tuple of str, got {type(value).__name__}"
                raise TypeError(msg)
            items = tuple(value)
            for item in items:
                if not isinstance(item, str):
                    msg = (
                        f"ProjectSettings.{field} items must be str, got "
                        f"{type(item).__name__} {item!r}"
                    )
                    raise TypeError(msg)
            object.__setattr__(self, field, items)

    def owns(self, program: Program) -> bool:
        """Return True when ``program`` belongs to this project."""
        return program in self.programs


@dc.dataclass(frozen=True, slots=True)
class ProgramEntry:
    """A program resolved together with the project that owns it."""

    program: Program
    project: ProjectSettings

    @property
    def project_name(self) -> str:
        """The owning project's name."""
        return self.project.name


class ProgramCatalogue:
    """An allowlist of programs grouped by owning project.

    Project names and programs must each be unique: a duplicate raises
    :class:`DuplicateProjectError` or :class:`DuplicateProgramError` (both
    ``ValueError``) naming it, because two owners for one program would make
    its metadata ambiguous.
    """

    __slots__ = ("_allowlist", "_by_program", "_projects")

    def __init__(self, *, projects: cabc.Iterable[ProjectSettings]) -> None:
        """Index ``projects``, rejecting duplicate projects and programs."""
        by_name: dict[str, ProjectSettings] = {}
        by_program: dict[Program, ProjectSettings] = {}
        for project in projects:
            if project.name in by_name:
                raise DuplicateProjectError(project.name)
            by_name[project.name] = project
            for program in project.programs:
                owner = by_program.get(program)
                if owner is not None:
                    raise DuplicateProgramError(program, owner.name)
                by_program[program] = project
        self._projects = by_name
        self._by_program = by_program
        self._allowlist = frozenset(by_program)

    @property
    def allowlist(self) -> frozenset[Program]:
        """Every program listed by any project."""
        return self._allowlist

    def is_allowed(self, program: Program) -> bool:
        """Return True when ``program`` is listed."""
        return program in self._allowlist

    def lookup(self, program: Program | str) -> ProgramEntry:
        """Resolve ``program`` to its entry or raise ``UnknownProgramError``."""
        if not isinstance(program, str):
            msg = f"program must be a str, got {type(program).__name__}"
            raise TypeError(msg)
        project = self._by_program.get(Program(program))
        if project is None:
            msg = f"Program '{program}' is not in the catalogue allowlist"
            raise UnknownProgramError(msg)
        return ProgramEntry(program=Program(program), project=project)

    def project_for(self, program: Program | str) -> ProjectSettings:
        """Return the project owning ``program``."""
        return self.lookup(program).project

    def visible_settings(self) -> cabc.Mapping[str, ProjectSettings]:
        """Return a read-only view of project settings by name."""
        return MappingProxyType(dict(self._projects))


CORE_OPS_PROJECT = "core-ops"
DOCUMENTATION_PROJECT = "docs"

ECHO = Program("echo")
GIT = Program("git")
LS = Program("ls")
RSYNC = Program("rsync")
TAR = Program("tar")
DOC_TOOL = Program("mdbook")

DEFAULT_PROJECTS: tuple[ProjectSettings, ...] = (
    ProjectSettings(
        name=CORE_OPS_PROJECT,
        programs=(ECHO, GIT, LS, RSYNC, TAR),
        documentation_locations=("docs/users-guide.md#program-catalogue",),
        noise_rules=(r"^progress:", r"^note:"),
    ),
    ProjectSettings(
        name=DOCUMENTATION_PROJECT,
        programs=(DOC_TOOL,),
        documentation_locations=("https://docs.example.invalid/cuprum/catalogue",),
        noise_rules=(r"^\[INFO\]",),
    ),
)

DEFAULT_CATALOGUE = ProgramCatalogue(projects=DEFAULT_PROJECTS)

__all__ = [
    "CORE_OPS_PROJECT",
    "DEFAULT_CATALOGUE",
    "DEFAULT_PROJECTS",
    "DOCUMENTATION_PROJECT",
    "DOC_TOOL",
    "ECHO",
    "GIT",
    "LS",
    "RSYNC",
    "TAR",
    "DuplicateProgramError",
    "DuplicateProjectError",
    "ProgramCatalogue",
    "ProgramEntry",
    "ProjectSettings",
    "UnknownProgramError",
]
