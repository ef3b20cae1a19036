"""Subcommands, in the order `dlstart --help` lists them."""

from dlstart.commands import new, recommend

COMMANDS = (new, recommend)
