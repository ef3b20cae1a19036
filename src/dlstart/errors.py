"""The error every command raises for bad input or a refused action: the CLI prints its message
(no traceback) and exits with status 2."""


class UserError(Exception):
    """A problem the user can fix; the message says what it is and how."""
