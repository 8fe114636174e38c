"""The stats page at `/` of the public port, as plain text (curl, scripts) or HTML (browsers).

Pure: `render_text` / `render_html` take a `StatsView` and return a string. The text form keeps
one `Key: value` per line so the seed's `curl ... | grep Version` still works; the HTML form
refreshes itself every few seconds and colours the version, so a browser left open during a
rolling update shows the pods changing from 1.0 to 2.0.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from html import escape
from typing import NamedTuple

REFRESH_S = 2


class StatsView(NamedTuple):
    """Immutable like a frozen dataclass, and built per request: a tuple is the cheapest."""

    pod_name: str
    app_version: str
    build: str  # what produced this process: probelab's version and Python's
    uptime_s: float
    requests_served: int
    in_flight: int
    phase: str


def wants_html(accept: str) -> bool:
    """Browsers ask for text/html first; curl sends `*/*` and gets text."""
    return "text/html" in accept.lower()


def format_uptime(seconds: float) -> str:
    """`3h 02m 07s`, `2m 05s`, `4.2s`: short, and stable in width while it ticks."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _rows(view: StatsView) -> list[tuple[str, str]]:
    return [
        ("Pod", view.pod_name),
        ("Version", view.app_version),
        ("Build", view.build),
        ("Uptime", format_uptime(view.uptime_s)),
        ("Requests served", str(view.requests_served)),
        ("In flight", str(view.in_flight)),
        ("State", view.phase),
    ]


def render_text(view: StatsView) -> str:
    """`_rows` as `Key: value` lines, values lined up after the longest key. One f-string rather
    than a loop: this page is what `GET /` costs, and a load test asks for it tens of thousands
    of times a second (tests/test_web_rules.py checks it against `_rows`)."""
    return (f"simpleweb {view.app_version}\n"
            f"Pod:             {view.pod_name}\n"
            f"Version:         {view.app_version}\n"
            f"Build:           {view.build}\n"
            f"Uptime:          {format_uptime(view.uptime_s)}\n"
            f"Requests served: {view.requests_served}\n"
            f"In flight:       {view.in_flight}\n"
            f"State:           {view.phase}\n")


class TextPage:
    """`render_text`, encoded, for the hot path: `GET /` from curl and from load generators,
    tens of thousands of times a second. The rows down to the uptime's value change at most
    ten times a second (the uptime is shown to 0.1 s, then to the second), so they are kept as
    bytes until the uptime shown changes; per request only the two counters and the state are
    formatted. The bytes equal `render_text(...).encode()` for the same values
    (tests/test_web_rules.py)."""

    __slots__ = ("_fixed", "_phase", "_phase_text", "_prefix", "_shown")

    def __init__(self, pod_name: str, app_version: str, build: str) -> None:
        self._fixed = (f"simpleweb {app_version}\n"
                       f"Pod:             {pod_name}\n"
                       f"Version:         {app_version}\n"
                       f"Build:           {build}\n"
                       "Uptime:          ").encode()
        self._shown: float | int | None = None  # which uptime `_prefix` shows
        self._prefix = b""
        self._phase: Enum | None = None
        self._phase_text = b""

    def render(self, uptime_s: float, requests_served: int, in_flight: int,
               phase: Enum) -> bytes:
        # round(x, 1) rounds as format_uptime's "{:.1f}" does, so equal keys show equal text;
        # from a minute on, whole seconds, kept negative so 60 s never equals 60.0 s.
        shown = round(uptime_s, 1) if uptime_s < 60 else -1 - int(uptime_s)
        if shown != self._shown:
            self._shown = shown
            self._prefix = (self._fixed + format_uptime(uptime_s).encode()
                            + b"\nRequests served: ")
        if phase is not self._phase:  # the state changes a few times in a process's life
            self._phase, self._phase_text = phase, str(phase.value).encode()
        return (b"%s%d\nIn flight:       %d\nState:           %s\n"
                % (self._prefix, requests_served, in_flight, self._phase_text))


def version_hue(version: str) -> int:
    """A stable colour per version (0-359), so two versions side by side never look alike."""
    return int.from_bytes(hashlib.sha256(version.encode()).digest()[:2], "big") % 360


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>simpleweb {version} on {pod}</title>
<style>
:root {{ --accent: hsl({hue} 70% 45%); }}
body {{ margin: 0; min-height: 100vh; display: grid; place-items: center;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  background: #0f172a; color: #e2e8f0; }}
main {{ width: min(30rem, 92vw); background: #1e293b; border-radius: 14px;
  box-shadow: 0 12px 40px #0008; overflow: hidden; }}
header {{ background: var(--accent); color: #fff; padding: 1.2rem 1.5rem; }}
header h1 {{ margin: 0; font-size: 1.6rem; letter-spacing: .02em; }}
header p {{ margin: .2rem 0 0; opacity: .85; font-family: ui-monospace, monospace; }}
dl {{ display: grid; grid-template-columns: auto 1fr; gap: .5rem 1.5rem;
  margin: 0; padding: 1.3rem 1.5rem; }}
dt {{ color: #94a3b8; }}
dd {{ margin: 0; font-family: ui-monospace, monospace; text-align: right; }}
.state-serving {{ color: #4ade80; }}
.state-draining, .state-closing, .state-starting {{ color: #fbbf24; }}
footer {{ padding: 0 1.5rem 1rem; color: #64748b; font-size: .8rem; }}
</style></head>
<body><main>
<header><h1>simpleweb {version}</h1><p>{pod}</p></header>
<dl>
{rows}
</dl>
<footer>Refreshes every {refresh} s. <code>curl</code> gets this as plain text.</footer>
</main></body></html>
"""


def render_html(view: StatsView) -> str:
    rows = []
    for key, value in _rows(view):
        css = f' class="state-{escape(value)}"' if key == "State" else ""
        rows.append(f"<dt>{escape(key)}</dt><dd{css}>{escape(value)}</dd>")
    return _PAGE.format(
        refresh=REFRESH_S,
        version=escape(view.app_version),
        pod=escape(view.pod_name),
        hue=version_hue(view.app_version),
        rows="\n".join(rows),
    )
