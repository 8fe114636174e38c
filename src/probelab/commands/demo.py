"""`probelab demo`: the whole experiment in one command (README.md, "probelab demo")."""

from __future__ import annotations

from pathlib import Path

import click

from probelab.commands.engine_options import local_engine_options
from probelab.scenario.config import DemoConfig, Scenario, Variant


def _choice(enum_cls, value: str) -> tuple:
    return tuple(enum_cls) if value == "all" else (enum_cls(value),)


@click.command(name="demo")
@click.option("--variant", type=click.Choice(["noprobes", "withprobes", "all"]), default="all",
              show_default=True, help="Manifests to run: without or with probes and hooks.")
@click.option("--scenario", type=click.Choice(["scale-down", "rolling-update", "all"]),
              default="all", show_default=True,
              help="Action under load: scale 10 -> 3, or roll out a new ReplicaSet.")
@click.option("--rate", "rate_rps", type=click.FloatRange(min=1, max=20000), default=500.0,
              show_default=True, help="Requests per second sent during each run (open model).")
@click.option("--keepalive/--no-keepalive", default=True, show_default=True,
              help="Reuse connections (like browsers) or open one per request.")
@click.option("--no-resend", is_flag=True,
              help="Count the keep-alive race as failures instead of sending the request once "
                   "more on a new connection, as hey and browsers do (see docs/load.md).")
@click.option("--context", default=None,
              help="Kubeconfig context of a real cluster. Without it, a local engine is started.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--url", default=None,
              help="Service URL to load (default: the NodePort on a node's address). A port "
                   "in 30000-32767 is used as every run's nodePort, so the URL stays valid "
                   "although each run re-creates its Service.")
@click.option("--manifests", "manifests_dir",
              type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder holding noprobes/ and withprobes/ (default: deploy/kubernetes).")
@click.option("--image-repo", default="probelab/simpleweb", show_default=True,
              help="Image repository of simpleweb on a real cluster.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("probelab-report.html"), show_default=True,
              help="Where to write the HTML report.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the table, series and timelines as JSON.")
@click.option("--repeat", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="Run the whole matrix this many times.")
@local_engine_options(endpoint_delay_s=1.0, endpoint_delay_note="; 1 s models a busy "
                      "cluster (cluster up's default is 0.1)")
def command(variant: str, scenario: str, rate_rps: float, keepalive: bool, no_resend: bool,
            context: str | None,
            kubeconfig: Path | None, url: str | None, manifests_dir: Path | None,
            image_repo: str, report_path: Path, json_path: Path | None, repeat: int,
            endpoint_delay_s: float, min_sync_period_s: float, profile: str,
            lb_deregistration_lag_s: float, seed: int | None, dataplane: str) -> None:
    """Scale down and roll out under load, without and with probes, and report what failed.

    \b
    `probelab test` on each variant's folder (deploy/kubernetes/noprobes and withprobes): apply
    the manifests, wait until the Deployment is rolled out and its Service answers cleanly,
    send load at a fixed rate through the Service, roll out a new ReplicaSet (or scale 10 -> 3)
    after a warm-up, wait for the rollout to finish, settle, then delete what was applied. At
    the end: a table, one sentence per run, and an HTML report with plots. Exit 0 when every
    withprobes run had zero failures and completed its rollout.

    \b
    Examples:
      probelab demo                                   # local engine, all four runs
      probelab demo --variant withprobes --scenario rolling-update
      probelab demo --context minikube --url "$(minikube service --url -n probes simpleprobe)"
    """
    from probelab.commands.cluster import check_dataplane
    from probelab.engine.kubelet.images import ImageTable
    from probelab.workloadtest.demo import run_demo

    if context is None:
        dataplane = check_dataplane(dataplane, profile)

    config = DemoConfig(
        variants=_choice(Variant, variant), scenarios=_choice(Scenario, scenario),
        rate_rps=rate_rps, keepalive=keepalive, resend=not no_resend, context=context,
        kubeconfig=kubeconfig,
        url=url, manifests_dir=manifests_dir, image_repo=image_repo, repeat=repeat,
        endpoint_delay_s=endpoint_delay_s, min_sync_period_s=min_sync_period_s, seed=seed,
        profile=profile, lb_deregistration_lag_s=lb_deregistration_lag_s,
        dataplane=dataplane,
    )
    table = ImageTable.build(())
    raise SystemExit(run_demo(config, report_path, json_path,
                              unmapped=lambda image: table.resolve(image) is None))
