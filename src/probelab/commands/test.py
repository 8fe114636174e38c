"""`probelab test`: the zero-downtime test of anyone's manifests (docs/test.md). Flags in,
exit code out; the work is in `probelab.workloadtest`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from rich.console import Console

from probelab.commands.cluster import parse_images
from probelab.commands.engine_options import local_engine_options
from probelab.commands.load import parse_duration
from probelab.engine.kubelet.images import TABLE_FILE, ImageTable, load_table_file
from probelab.errors import UsageError
from probelab.load.config import parse_header
from probelab.workloadtest.config import TestSettings, parse_assignment, parse_scenarios


def file_images(paths: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The `images:` of a probelab.yaml in each manifest folder (or a manifest file's folder),
    as `--image` pairs; the flags, given after them, win (docs/kubelet.md, "Images")."""
    pairs: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for given in paths:
        if given == "-":
            continue
        folder = Path(given) if Path(given).is_dir() else Path(given).parent
        table = folder / TABLE_FILE
        if table.resolve() in seen or not table.is_file():
            continue
        seen.add(table.resolve())
        for (repository, tag), argv in load_table_file(table).items():
            image = repository + (f":{tag}" if tag is not None else "")
            pairs.append((image, shlex.join(argv)))
    return tuple(pairs)


def _writable(path: Path | None, flag: str) -> None:
    if path is not None and not path.resolve().parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {path.resolve().parent} does not exist")


@click.command(name="test")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option("--workload", default=None, metavar="deployment/NAME",
              help="The Deployment to test (default: the one a Service selects).")
@click.option("--service", default=None, metavar="NAME",
              help="The Service to load (default: the one selecting the workload).")
@click.option("--port", default=None, metavar="NAME|NUMBER",
              help="The Service port to load (default: its first port).")
@click.option("--path", "url_path", default="/", show_default=True, help="Request path.")
@click.option("-H", "headers", multiple=True, metavar="'Name: value'",
              help="A request header (repeatable).")
@click.option("--host", default=None, help="Host header, for name-based routing.")
@click.option("--scenario", "scenarios", multiple=True, metavar="NAME[=N]",
              help="rolling-update, scale-down[=N] (default N: ceil(replicas/3)), "
                   "scale-up[=N] (default: 2 x replicas), delete-pod, drain; repeatable or "
                   "comma-separated  [default: rolling-update,scale-down]")
@click.option("--new-image", "new_images", multiple=True, metavar="CONTAINER=IMAGE",
              help="rolling-update to this image instead of a restart (repeatable).")
@click.option("--rate", "rate_rps", type=click.FloatRange(min=1, max=5000), default=100.0,
              show_default=True, help="Requests per second during each scenario (open model).")
@click.option("--keepalive/--no-keepalive", default=True, show_default=True,
              help="Reuse connections, or open one per request.")
@click.option("--warmup", default="2s", show_default=True, metavar="DURATION",
              help="Load before the action.")
@click.option("--settle", default="2s", show_default=True, metavar="DURATION",
              help="Load after the rollout completed.")
@click.option("--rollout-timeout", default="2m", show_default=True, metavar="DURATION",
              help="A rollout not complete after this long fails the scenario.")
@click.option("--max-failures", type=click.IntRange(min=0), default=0, show_default=True,
              help="Failed requests a scenario may have and still pass.")
@click.option("--max-error-rate", type=click.FloatRange(min=0, max=100), default=None,
              metavar="PERCENT", help="Failed requests a scenario may have, in percent.")
@click.option("--image", "images", multiple=True, metavar="IMAGE=COMMAND",
              help="Local engine: the host command an image runs as (repeatable; wins over "
                   "the images: of a probelab.yaml next to the manifests).")
@local_engine_options(nodes=True)
@click.option("--keep", is_flag=True,
              help="Leave the objects and the local engine running afterwards.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the results as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write JUnit XML: one testcase per scenario.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the HTML report (plots per scenario).")
@click.option("--repeat", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="Run the scenario list this many times (JUnit: one testcase per run).")
@click.option("--no-resend", is_flag=True,
              help="Count the keep-alive race as a failure instead of sending the request "
                   "once more on a new connection (see docs/load.md).")
@click.option("--context", default=None,
              help="Kubeconfig context of a real cluster (no local engine is started).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Kubeconfig file for --context (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--url", default=None,
              help="Where this machine reaches the Service (default: its NodePort on a node's "
                   "address); a port in 30000-32767 is pinned as the Service's nodePort.")
def command(paths: tuple[str, ...], workload: str | None, service: str | None,
            port: str | None, url_path: str, headers: tuple[str, ...], host: str | None,
            scenarios: tuple[str, ...], new_images: tuple[str, ...], rate_rps: float,
            keepalive: bool, warmup: str, settle: str, rollout_timeout: str,
            max_failures: int, max_error_rate: float | None, images: tuple[str, ...],
            endpoint_delay_s: float, min_sync_period_s: float, profile: str,
            lb_deregistration_lag_s: float, seed: int | None, dataplane: str,
            nodes: int | None, keep: bool,
            json_path: Path | None,
            junit_path: Path | None, report_path: Path | None, repeat: int, no_resend: bool,
            context: str | None, kubeconfig: Path | None, url: str | None) -> None:
    """Does this workload lose requests when it rolls out or scales in, and why?

    \b
    Reads manifests from files, folders and standard input ("-"), starts a local engine,
    applies them, and runs each scenario under fixed-rate load through the workload's
    Service: after the rollout is complete and the Service answers cleanly, a warm-up, the
    action, the wait for the rollout, a settle time. Failed requests are tied to the pod step
    before them (SIGTERM while still in the proxy's endpoints, exit with requests in flight,
    SIGKILL, traffic before ready), one sentence per cause with its cure.

    \b
    A scenario fails when a request failed (beyond --max-failures / --max-error-rate), when
    its rollout did not complete within --rollout-timeout, or when the Service never answered
    cleanly before the action. Exit status: 0 pass, 1 fail, 2 bad input. What the test
    created is deleted and the engine stopped, also on failure and Ctrl-C (--keep keeps them).

    \b
    Examples:
      probelab test k8s/ --image myapp:1=python3 app.py
      helm template . | probelab test - --image 'myapp=node server.js' --junit probelab.xml
      probelab test k8s/ --scenario scale-down=1 --scenario delete-pod --rate 200
      probelab test k8s/ --new-image web=myapp:2 --image myapp:1=./v1 --image myapp:2=./v2
      probelab test k8s/ --repeat 5 --report report.html
      probelab test k8s/ --context minikube --url "$(minikube service --url -n shop web)"
    """
    from probelab.workloadtest.run import run_test

    if (url is not None or kubeconfig is not None) and context is None:
        raise UsageError("--url and --kubeconfig go with --context (a real cluster); the local "
                         "engine's Service is reached directly")
    from probelab.commands.cluster import check_dataplane

    dataplane = check_dataplane(dataplane, profile)
    _writable(json_path, "--json")
    _writable(junit_path, "--junit")
    _writable(report_path, "--report")
    if not url_path.startswith("/"):
        raise UsageError(f"--path {url_path!r}: must start with /")
    settings = TestSettings(
        paths=paths, workload=workload, service=service, port=port, path=url_path,
        headers=tuple(parse_header(h) for h in headers), host=host,
        scenarios=parse_scenarios(scenarios),
        new_images=tuple(parse_assignment(v, "--new-image", "CONTAINER=IMAGE")
                         for v in new_images),
        rate_rps=rate_rps, keepalive=keepalive, warmup_s=parse_duration(warmup),
        settle_s=parse_duration(settle), rollout_timeout_s=parse_duration(rollout_timeout),
        max_failures=max_failures, max_error_rate=max_error_rate, keep=keep,
        images=file_images(paths) + parse_images(images), endpoint_delay_s=endpoint_delay_s,
        min_sync_period_s=min_sync_period_s, profile=profile,
        lb_deregistration_lag_s=lb_deregistration_lag_s, seed=seed, dataplane=dataplane,
        nodes=nodes, json_path=json_path, junit_path=junit_path, report_path=report_path,
        repeat=repeat,        resend=not no_resend, context=context, kubeconfig=kubeconfig, url=url,
    )
    table = ImageTable.build(settings.images)
    # soft_wrap: a progress line or a cause stays one line in a CI log, however narrow.
    raise SystemExit(run_test(settings, sys.stdin, Console(soft_wrap=True),
                              unmapped=lambda image: table.resolve(image) is None))
