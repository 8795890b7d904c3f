"""Subcommands of `pumpsim`, one module each (see sim/cli.py)."""
