"""Errors that are the user's mistake: one line on stderr, exit code 2, no stack trace."""


class UserError(Exception):
    """A bad argument, a missing table or an invalid setting; the message says how to fix it."""

    exit_code = 2
