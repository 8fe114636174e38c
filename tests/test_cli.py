"""The CLI surface: help, version, unknown commands; one line and exit 2 on bad input."""

from probelab import __version__
from probelab.cli import SUBCOMMANDS
from support.processes import run_probelab


def test_version() -> None:
    result = run_probelab("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_lists_every_command() -> None:
    result = run_probelab("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_every_command_has_help() -> None:
    for name in SUBCOMMANDS:
        result = run_probelab(name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert "Usage:" in result.stdout


def test_unknown_command_is_one_line_exit_2() -> None:
    result = run_probelab("nope")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such command" in result.stderr
