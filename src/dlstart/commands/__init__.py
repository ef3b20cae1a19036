"""Subcommands, in the order `dlstart --help` lists them."""

from dlstart.commands import adopt, doctor, new, update

COMMANDS = (new, update, adopt, doctor)
