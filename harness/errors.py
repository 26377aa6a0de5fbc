"""Errors a user can cause and fix: the CLI prints them as one line each and exits with code 2."""


class UserError(Exception):
    """A mistake in user input (suite file, data, command line); the message names where."""
