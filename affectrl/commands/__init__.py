"""Subcommands of the `affectrl` CLI, one module per stage."""
