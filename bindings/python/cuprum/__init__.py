# SPDX-License-Identifier: ISC
"""cuprum: run allowlisted commands and pipelines safely and fast.

Commands are argv tuples built from a curated :class:`ProgramCatalogue`;
nothing is ever run through a shell. See ``docs/users-guide.md``.

``cuprum.builders`` and ``cuprum.adapters`` are imported on first use.
"""

from __future__ import annotations

import importlib
import types

from cuprum._backend import get_stream_backend, is_native_available, is_rust_available
from cuprum._constants import PACKAGE_NAME
from cuprum.catalogue import (
    CORE_OPS_PROJECT,
    DEFAULT_CATALOGUE,
    DEFAULT_PROJECTS,
    DOC_TOOL,
    DOCUMENTATION_PROJECT,
    ECHO,
    GIT,
    LS,
    RSYNC,
    TAR,
    ProgramCatalogue,
    ProgramEntry,
    ProjectSettings,
    UnknownProgramError,
)
from cuprum.concurrent import (
    ConcurrentConfig,
    ConcurrentResult,
    run_concurrent,
    run_concurrent_sync,
)
from cuprum.context import (
    AfterHook,
    AllowRegistration,
    BeforeHook,
    CuprumContext,
    EnvRegistration,
    ForbiddenProgramError,
    HookRegistration,
    ScopeConfig,
    after,
    allow,
    before,
    current_context,
    env,
    get_context,
    merge_env_overlays,
    observe,
    resolve_env,
    scoped,
)
from cuprum.events import ExecEvent, ExecHook
from cuprum.logging_hooks import LoggingHookRegistration, logging_hook
from cuprum.program import Program
from cuprum.sh import (
    CommandResult,
    ExecutionContext,
    IOOptions,
    OutputLimitExceeded,
    Pipeline,
    PipelineResult,
    RunOutputOptions,
    SafeCmd,
    SafeCmdBuilder,
    StdinInput,
    TimeoutExpired,
)

from . import sh

__version__ = "0.1.0"

_LAZY_SUBMODULES = frozenset({"builders", "adapters"})


def __getattr__(name: str) -> types.ModuleType:
    """Import ``cuprum.builders`` / ``cuprum.adapters`` on first access."""
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "CORE_OPS_PROJECT",
    "DEFAULT_CATALOGUE",
    "DEFAULT_PROJECTS",
    "DOCUMENTATION_PROJECT",
    "DOC_TOOL",
    "ECHO",
    "GIT",
    "LS",
    "PACKAGE_NAME",
    "RSYNC",
    "TAR",
    "AfterHook",
    "AllowRegistration",
    "BeforeHook",
    "CommandResult",
    "ConcurrentConfig",
    "ConcurrentResult",
    "CuprumContext",
    "EnvRegistration",
    "ExecEvent",
    "ExecHook",
    "ExecutionContext",
    "ForbiddenProgramError",
    "HookRegistration",
    "IOOptions",
    "LoggingHookRegistration",
    "Pipeline",
    "OutputLimitExceeded",
    "PipelineResult",
    "Program",
    "ProgramCatalogue",
    "ProgramEntry",
    "ProjectSettings",
    "RunOutputOptions",
    "SafeCmd",
    "SafeCmdBuilder",
    "ScopeConfig",
    "StdinInput",
    "TimeoutExpired",
    "UnknownProgramError",
    "after",
    "allow",
    "before",
    "builders",
    "current_context",
    "env",
    "get_context",
    "get_stream_backend",
    "is_native_available",
    "is_rust_available",
    "logging_hook",
    "merge_env_overlays",
    "observe",
    "resolve_env",
    "run_concurrent",
    "run_concurrent_sync",
    "scoped",
    "sh",
]
