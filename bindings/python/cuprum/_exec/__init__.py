# SPDX-License-Identifier: ISC
"""The execution core. ``command`` is the leaf protocol of what the core
needs from a command; nothing here imports the public modules
(``cuprum.sh``, ``cuprum.context``)."""
