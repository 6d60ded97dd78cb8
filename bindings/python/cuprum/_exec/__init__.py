# SPDX-License-Identifier: ISC
"""The execution core: one module per job, data flowing one way.

``plan`` resolves a request (options, scope policy, environment) into an
immutable :class:`~cuprum._exec.plan.RunPlan`; ``spawn`` creates the pipes
and starts the children; ``channels`` reads the parent's pipe ends into the
stream engine's sinks and writes stdin; ``lifecycle`` reaps children and owns
the one stop sequence (SIGTERM, grace, SIGKILL); ``run`` ties them together
for one execution, reacting to readiness; ``drivers`` wait for that readiness
(a ``poll`` loop for ``run_sync``, the running asyncio loop for ``run``).
``command`` is the leaf protocol of what the core needs from a command.
Nothing here imports the public modules (``cuprum.sh``, ``cuprum.context``).
"""
