"""`probelab check`: the timing-budget analyzer (docs/check.md). Flags in, exit code out."""

from __future__ import annotations

import sys

import click

from probelab.check.model import PROFILES, Severity, timing_model

FORMATS = ("table", "json", "sarif", "github")


@click.command(name="check")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json (stable schema), sarif (GitHub code scanning), "
                   "github (workflow annotations) for machines.")
@click.option("--profile", type=click.Choice(list(PROFILES)), default=None,
              help="Data plane whose endpoint lag to assume: kube-proxy 1 s (default), "
                   "ingress-nginx 5 s, cloud-lb 15 s (see docs/check.md for the sources).")
@click.option("--lag", "lag_s", type=float, default=None, metavar="SECONDS",
              help="How long until every proxy and load balancer has dropped a terminating "
                   "pod; overrides --profile.")
@click.option("--margin", "margin_s", type=float, default=2.0, show_default=True,
              metavar="SECONDS", help="Safety margin added to every timing budget.")
@click.option("--kubernetes-version", "version", default=None, metavar="1.NN",
              help="Target version for version-dependent rules (default 1.35, the oldest "
                   "minor supported upstream).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "none"]),
              default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--fix", "do_fix", is_flag=True,
              help="Print a strategic-merge patch per object that clears the errors a "
                   "machine can clear (kubectl patch --type strategic).")
@click.option("--write", is_flag=True,
              help="With --fix: rewrite the files with the patched objects instead (YAML "
                   "comments are lost; standard input is printed instead).")
def command(paths: tuple[str, ...], fmt: str, profile: str | None, lag_s: float | None,
            margin_s: float, version: str | None, fail_on: str, do_fix: bool,
            write: bool) -> None:
    """Check that the timings of a rollout add up, for any workload's manifests, offline.

    \b
    Reads files, folders (their *.yaml, *.yml, *.json, sorted, like kubectl apply -f) and
    standard input ("-"), with multi-document YAML and List kinds. Looks at the pod templates
    of Deployments, StatefulSets, DaemonSets, ReplicaSets and Pods and the Services,
    PodDisruptionBudgets and HorizontalPodAutoscalers next to them: readiness and preStop
    against the endpoint lag, preStop + drain against terminationGracePeriodSeconds, liveness
    against readiness, Service selectors and ports, rollout and eviction budgets.

    \b
    Timings the manifest cannot show are declared in pod template annotations:
      probelab.io/prestop-delay-seconds  how long an httpGet/script preStop hook waits
      probelab.io/drain-seconds          how long the app drains after SIGTERM
      probelab.io/check-ignore           rule IDs to skip for this object (comma-separated)

    \b
    Exit status: 0 no finding at or above --fail-on, 1 some, 2 bad input.

    \b
    Examples:
      probelab check deploy/kubernetes/withprobes
      helm template my-release ./chart | probelab check - --profile ingress-nginx
      probelab check k8s/ --format sarif > probelab.sarif
      probelab check k8s/deployment.yaml --fix | kubectl patch ... --patch-file /dev/stdin
    """
    from probelab.check import run

    if write and not do_fix:
        raise click.UsageError("--write needs --fix")
    model = timing_model(profile, lag_s, margin_s, version)
    threshold = None if fail_on == "none" else Severity.parse(fail_on)
    code = run.main(list(paths), model, fmt, threshold, do_fix, write, sys.stdin, sys.stdout,
                    sys.stderr)
    raise SystemExit(code)


