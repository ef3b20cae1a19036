"""Subcommands, in the order `dlstart --help` lists them."""

from dlstart.commands import adopt, doctor, new, recommend, update

COMMANDS = (new, recommend, update, adopt, doctor)
