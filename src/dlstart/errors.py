"""The one exception the CLI reports as a plain message, without a traceback."""


class UserError(Exception):
    """Bad input or a state dlstart refuses to act on; the message says what to do."""
