"""Subcommands, in the order `dlstart --help` lists them."""

from dlstart.commands import new, update

COMMANDS = (new, update)
