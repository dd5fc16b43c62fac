"""The one exception type for bad input that a user can fix."""


class UsageError(Exception):
    """Bad input: the message names the problem and the remedy in one line.

    Command-line entry points print it alone (no traceback) and exit with status 2.
    """
