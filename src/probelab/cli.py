"""The `probelab` command: one click group.

Each sub-command lives in `probelab.commands.<name>` and only translates flags into the typed
config of the package that does the work. Library code raises `ProbelabError`; `main()` turns it
into one line on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from probelab import __version__
from probelab.errors import ProbelabError

# name -> module holding a click command called `command`. Imported lazily so that
# `probelab web` (started once per pod) does not pay for the kubernetes client or matplotlib.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "web": ("probelab.commands.web", "Run the sample service simpleweb (v1.0 / v2.0)."),
    "load": ("probelab.commands.load", "Send HTTP load and classify every failed request."),
    "cluster": ("probelab.commands.cluster", "Run the local engine: pods as processes."),
    "service": ("probelab.commands.service", "Find services of the local engine (like minikube)."),
    "demo": ("probelab.commands.demo", "Run the whole experiment and write a report."),
    "check": ("probelab.commands.check", "Check a workload's manifests for rollout timing bugs."),
    "test": ("probelab.commands.test", "Test that a workload rolls out without losing requests."),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        return importlib.import_module(entry[0]).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="probelab")
def cli() -> None:
    """probelab shows why requests fail while Kubernetes scales down or rolls out a new version,
    and proves that readiness probes, preStop hooks and graceful shutdown prevent it.

    \b
    Start here:
      probelab demo                 the whole experiment on a local engine, with a report
      probelab check k8s/           do your manifests' rollout timings add up? (offline)
      probelab test k8s/            does your workload lose requests when it rolls out?
      probelab cluster up           a local Kubernetes API that runs pods as processes
      probelab load URL             load with every failure classified
      probelab web                  the sample service
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, turning ProbelabError into one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="probelab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # One line, with the command it concerns and where help is: click's own three-line
        # usage block is noise when a script or a test reads stderr.
        where = exc.ctx.command_path if exc.ctx is not None else "probelab"
        message = exc.format_message().replace("\n", " ")
        click.echo(f"{where}: error: {message} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"probelab: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ProbelabError as exc:
        click.echo(f"probelab: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
