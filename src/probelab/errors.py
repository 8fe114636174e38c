"""Typed exceptions shared by every layer; only `cli.py` turns them into messages and exit codes."""


class ProbelabError(Exception):
    """Base of every error the CLI reports as one line (exit 2 unless a subclass says otherwise)."""

    exit_code = 2


class UsageError(ProbelabError):
    """Bad input from the user: flags, files, URLs, ports."""


class RuntimeFailure(ProbelabError):
    """Something the tool needed failed at run time (a port in use, an unreachable server)."""

    exit_code = 1
