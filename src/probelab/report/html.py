"""The self-contained HTML report: one section per run with inline SVG plots (matplotlib).

Nothing is loaded from the network: styles are inline and each figure is SVG text embedded in the
page. Per run, four panels share the time axis: requests per second by outcome (failures red),
usable endpoints (controller view and proxy view), versions served, and each pod's steps.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from probelab.report.model import FAILURE_CLASSES, PodStep, RunRecord
from probelab.report.summary import explain
from probelab.report.summary import verdict as demo_verdict

COLORS = {
    "ok": "#2e7d32", "http_4xx": "#f9a825", "http_5xx": "#ef6c00", "refused": "#c62828",
    "reset": "#e53935", "closed": "#ad1457", "timeout": "#6a1b9a",
    "unreachable": "#283593", "other": "#4e342e",
}
STEP_STYLE = {
    PodStep.STARTED: ("^", "#1565c0"), PodStep.READY: ("o", "#2e7d32"),
    PodStep.TERMINATING: ("v", "#ef6c00"), PodStep.PRESTOP: ("s", "#f9a825"),
    PodStep.SIGTERM: ("X", "#c62828"), PodStep.EXITED: ("D", "#424242"),
    PodStep.KILLED: ("*", "#000000"), PodStep.DELETED: ("|", "#9e9e9e"),
}
VERSION_COLORS = ("#1565c0", "#00897b", "#8e24aa", "#6d4c41")


def _figure_svg(run: RunRecord) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pods = sorted({m.pod for m in run.pod_marks})
    fig, axes = plt.subplots(
        4, 1, figsize=(10, 9.5), sharex=True,
        gridspec_kw={"height_ratios": [3, 1.6, 1.6, max(1.6, 0.18 * len(pods))]},
    )
    req_ax, ep_ax, ver_ax, pod_ax = axes
    ts = [b.t for b in run.seconds]

    bottom = [0] * len(ts)
    for cls in ("ok", *FAILURE_CLASSES):
        values = [b.by_class.get(cls, 0) for b in run.seconds]
        if any(values):
            req_ax.bar(ts, values, bottom=bottom, width=1.0, align="edge", color=COLORS[cls],
                       label=cls, linewidth=0)
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    req_ax.set_ylabel("requests/s")
    req_ax.legend(loc="lower left", fontsize=8, ncol=4)
    req_ax.set_title(f"{run.variant} · {run.scenario}", loc="left", fontsize=11)

    for source, style in (("endpointslice", "-"), ("proxy", "--")):
        samples = [s for s in run.endpoints if s.source == source]
        if samples:
            xs = [s.t_s for s in samples] + [max(run.duration_s, samples[-1].t_s)]
            ys = [s.ready for s in samples] + [samples[-1].ready]
            ep_ax.step(xs, ys, where="post", linestyle=style, label=f"ready ({source})")
    ep_ax.set_ylabel("endpoints")
    ep_ax.set_ylim(bottom=0)
    if run.endpoints:
        ep_ax.legend(loc="lower left", fontsize=8)

    versions = sorted({v for b in run.seconds for v in b.by_version})
    for i, version in enumerate(versions):
        ver_ax.plot(ts, [b.by_version.get(version, 0) for b in run.seconds],
                    color=VERSION_COLORS[i % len(VERSION_COLORS)], label=f"v{version}")
    ver_ax.set_ylabel("ok/s by version")
    ver_ax.set_ylim(bottom=0)
    if versions:
        ver_ax.legend(loc="lower left", fontsize=8)

    for step, (marker, color) in STEP_STYLE.items():
        marks = [m for m in run.pod_marks if m.step is step]
        if marks:
            pod_ax.scatter([m.t_s for m in marks], [pods.index(m.pod) for m in marks],
                           marker=marker, color=color, s=22, label=step.value, zorder=3)
    pod_ax.set_yticks(range(len(pods)), [p[-11:] for p in pods], fontsize=6)
    pod_ax.set_ylabel("pods")
    pod_ax.set_xlabel("seconds since load start")
    if run.pod_marks:
        pod_ax.legend(loc="upper left", fontsize=7, ncol=8, bbox_to_anchor=(0, -0.25))

    for ax in axes:
        ax.grid(alpha=0.25)
        if run.action_at_s is not None:
            ax.axvline(run.action_at_s, color="#000", linestyle=":", linewidth=1)
        if run.rollout_done_at_s is not None:
            ax.axvline(run.rollout_done_at_s, color="#777", linestyle="-.", linewidth=1)
    if run.action_at_s is not None:
        req_ax.annotate(run.action, (run.action_at_s, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


PAGE_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#212121;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem} .lead{color:#555;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
.fail{color:#c62828;font-weight:600} .pass{color:#2e7d32;font-weight:600}
section.run{border-top:2px solid #eee;margin-top:2rem;padding-top:1rem}
.chart svg{width:100%;height:auto}
"""


DEMO_LEAD = """Each run sends HTTP load at a fixed rate through the Service while the Deployment
scales down (10 → 3) or rolls out a new ReplicaSet. <b>noprobes</b> has neither a readiness probe
nor a preStop hook: pods get traffic before they listen and stop listening while the proxy still
sends them connections. <b>withprobes</b> gates traffic on <code>/healthz</code> and holds each
terminating pod in service with a preStop hook until every proxy has dropped it."""


def render_html(runs: Sequence[RunRecord], title: str = "probelab demo report",
                verdict: tuple[bool, str] | None = None, lead: str = DEMO_LEAD) -> str:
    """The whole page as one string. `verdict` (passed, text) defaults to the demo's
    (withprobes without failures); `lead` is trusted HTML (ours, never the user's)."""
    ok, verdict_text = verdict if verdict is not None else demo_verdict(list(runs))
    rows = []
    for run in runs:
        cells = [run.variant, run.scenario, str(run.requests), str(run.totals.get("ok", 0))]
        for cls in ("refused", "reset", "closed", "unreachable", "timeout", "http_5xx"):
            n = run.totals.get(cls, 0)
            cells.append(f'<span class="fail">{n}</span>' if n else "0")
        cells.append(f"{run.duration_s:.1f} s")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>" for h in ("variant", "scenario", "requests", "ok", "refused", "reset",
                                  "closed", "unreach.", "timeout", "5xx", "time")
    )
    sections = []
    for run in runs:
        sections.append(
            f'<section class="run"><h2>{html.escape(run.variant)} · {html.escape(run.scenario)}'
            f"</h2><p>{html.escape(explain(run))}</p>"
            f'<div class="chart">{_figure_svg(run)}</div></section>'
        )
    verdict_class = "pass" if ok else "fail"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{PAGE_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="lead">{lead}</p>
<p>Verdict: <span class="{verdict_class}">{html.escape(verdict_text)}</span></p>
<table><tr>{header}</tr>{"".join(rows)}</table>
<p class="lead">Plots: requests per second by outcome (failures in red shades); ready endpoints as
the endpoints controller published them (solid) and as the proxy applied them (dashed); successful
requests per second by version; each pod's steps (started, ready, terminating, preStop, SIGTERM,
exit). Dotted line: the action; dash-dot: rollout complete.</p>
{"".join(sections)}
</body></html>
"""
