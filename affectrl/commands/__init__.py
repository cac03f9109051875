"""Subcommands of the `affectrl` CLI, one module per stage.

Every module `<name>_cmd.py` here defines `register(subparsers)`; `COMMANDS` registers each one
lazily under `<name>` (imported when it is looked up), so adding a command is adding its file.
"""

import pkgutil

from ..registry import Registry

COMMANDS: Registry = Registry("command")
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module.endswith("_cmd"):
        COMMANDS.register_lazy(_module.removesuffix("_cmd"), f"{__name__}.{_module}")
