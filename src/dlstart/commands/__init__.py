"""Subcommands, in the order `dlstart --help` lists them."""

from dlstart.commands import adopt, new, update

COMMANDS = (new, update, adopt)
