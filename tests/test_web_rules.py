"""simpleweb's pure rules, table-tested: phases, signals, drain window, flags, stats page."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probelab.errors import UsageError
from probelab.web.config import WebConfig, parse_config, pod_name_from_env
from probelab.web.shutdown import (
    Phase,
    SignalAction,
    after_prestop,
    closes_connections,
    drain_wait_s,
    is_ready,
    on_signal,
)
from probelab.web.state import ServiceState
from probelab.web.stats import (
    StatsView,
    TextPage,
    _rows,
    format_uptime,
    render_html,
    render_text,
    version_hue,
    wants_html,
)


# ---- phases ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("phase", "ready", "closes"), [
    (Phase.STARTING, False, False),
    (Phase.SERVING, True, False),
    (Phase.DRAINING, False, True),
    (Phase.CLOSING, False, True),
    (Phase.STOPPED, False, True),
])
def test_readiness_and_connection_close_by_phase(phase: Phase, ready: bool, closes: bool) -> None:
    assert is_ready(phase) is ready
    assert closes_connections(phase) is closes


@pytest.mark.parametrize(("signum", "started", "action"), [
    (signal.SIGTERM, False, SignalAction.START_SHUTDOWN),
    (signal.SIGINT, False, SignalAction.START_SHUTDOWN),
    (signal.SIGINT, True, SignalAction.FORCE_EXIT),
    (signal.SIGTERM, True, SignalAction.IGNORE),
])
def test_what_a_signal_does(signum: int, started: bool, action: SignalAction) -> None:
    assert on_signal(signum, started) is action


@pytest.mark.parametrize(("before", "after"), [
    (Phase.STARTING, Phase.DRAINING),
    (Phase.SERVING, Phase.DRAINING),
    (Phase.DRAINING, Phase.DRAINING),
    (Phase.CLOSING, Phase.CLOSING),  # a late /prestop never reopens anything
    (Phase.STOPPED, Phase.STOPPED),
])
def test_prestop_moves_to_draining_only_forward(before: Phase, after: Phase) -> None:
    assert after_prestop(before) is after


@pytest.mark.parametrize(("delay", "prestop", "wait"), [
    (0.0, False, 0.0),
    (2.0, False, 2.0),
    (2.0, True, 0.0),  # the preStop hook already held the pod in draining
    (-1.0, False, 0.0),
])
def test_drain_wait(delay: float, prestop: bool, wait: float) -> None:
    assert drain_wait_s(delay, prestop) == wait


def test_state_start_prestop_reports_a_change_once() -> None:
    state = ServiceState(app_version="1.0", pod_name="p", phase=Phase.SERVING)
    assert state.start_prestop() is True
    assert state.start_prestop() is False
    assert state.phase is Phase.DRAINING and state.prestop_started


# ---- flags -----------------------------------------------------------------------------------
GOOD = dict(host="0.0.0.0", port="8080", admin_port="8081", app_version="1.0", drain_delay="0",
            prestop_delay="10", shutdown_timeout="20", startup_delay="0", idle_timeout="60",
            pod_name="p")


def test_defaults_parse_to_the_documented_config() -> None:
    assert parse_config(**GOOD) == WebConfig(pod_name="p")


@pytest.mark.parametrize(("change", "message"), [
    ({"port": "65536"}, "--port 65536 is out of range (0-65535)"),
    ({"port": "-1"}, "--port -1 is out of range (0-65535)"),
    ({"admin_port": "x"}, "--admin-port must be a port number, got 'x'"),
    ({"admin_port": "8080"}, "--port and --admin-port must differ (both are 8080)"),
    ({"drain_delay": "-0.1"}, "--drain-delay must be zero or more seconds, got '-0.1'"),
    ({"prestop_delay": "inf"}, "--prestop-delay must be zero or more seconds, got 'inf'"),
    ({"shutdown_timeout": "soon"}, "--shutdown-timeout must be a number of seconds, got 'soon'"),
    ({"startup_delay": "nan"}, "--startup-delay must be zero or more seconds, got 'nan'"),
    ({"idle_timeout": "0"}, "--idle-timeout must be more than 0 seconds"),
    ({"host": " "}, "--host must not be empty"),
    ({"app_version": "1\n2"}, "--app-version must be one non-empty line, got '1\\n2'"),
])
def test_bad_flags_name_the_flag(change: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_config(**{**GOOD, **change})
    assert str(info.value) == message


def test_port_zero_is_allowed_for_both() -> None:
    config = parse_config(**{**GOOD, "port": "0", "admin_port": "0", "prestop_delay": "2.5"})
    assert (config.port, config.admin_port, config.prestop_delay_s) == (0, 0, 2.5)


def test_pod_name_prefers_pod_name_env() -> None:
    assert pod_name_from_env({"POD_NAME": "web-1"}) == "web-1"
    assert pod_name_from_env({}) != ""  # the hostname


# ---- stats page ------------------------------------------------------------------------------
VIEW = StatsView(pod_name="web-<1>", app_version="2.0", build="probelab 0.1.0",
                 uptime_s=125.0, requests_served=42, in_flight=3, phase="draining")


@pytest.mark.parametrize(("accept", "html"), [
    ("*/*", False),
    ("", False),
    ("text/html,application/xhtml+xml,*/*;q=0.8", True),
    ("TEXT/HTML", True),
])
def test_content_negotiation(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


@pytest.mark.parametrize(("seconds", "text"), [
    (4.25, "4.2s"), (59.9, "59.9s"), (125, "2m 05s"), (3 * 3600 + 127, "3h 02m 07s"),
])
def test_uptime_format(seconds: float, text: str) -> None:
    assert format_uptime(seconds) == text


def test_text_page_has_one_key_per_line() -> None:
    text = render_text(VIEW)
    lines = text.splitlines()
    assert lines[0] == "simpleweb 2.0"
    assert "Version:         2.0" in lines
    assert "Requests served: 42" in lines
    assert "In flight:       3" in lines
    assert "Uptime:          2m 05s" in lines


@pytest.mark.parametrize("view", [VIEW, VIEW._replace(uptime_s=4000.0, pod_name="p")])
def test_text_page_lines_up_every_row_of_the_view(view: StatsView) -> None:
    width = max(len(key) for key, _ in _rows(view)) + 1
    expected = [f"simpleweb {view.app_version}"]
    expected += [f"{key + ':':<{width}} {value}" for key, value in _rows(view)]
    assert render_text(view) == "\n".join(expected) + "\n"


# Uptimes around where the page's text changes: 0.1 s steps below a minute (the rounding's
# halfway points too), then whole seconds, and the switch at 60 s.
EDGES = [0.0, 0.04, 0.05, 0.0500001, 0.15, 0.25, 12.34, 12.35, 59.94, 59.95, 59.96, 59.999,
         60.0, 60.4, 60.99, 61.0, 3599.9, 3600.0, 4000.0]


def test_hot_text_page_is_the_text_page_encoded_at_every_edge() -> None:
    page = TextPage("web-<1>", "2.0", "probelab 0.1.0")
    for uptime in EDGES + EDGES[::-1]:  # forwards and backwards: the kept text must follow
        for phase in Phase:
            view = VIEW._replace(uptime_s=uptime, phase=phase.value)
            got = page.render(uptime, view.requests_served, view.in_flight, phase)
            assert got == render_text(view).encode(), (uptime, phase)


@given(st.lists(st.tuples(st.floats(0, 100_000, allow_nan=False),
                          st.integers(0, 10**12), st.integers(0, 10**6),
                          st.sampled_from(list(Phase))), min_size=1, max_size=40))
def test_hot_text_page_equals_render_text_for_any_sequence(
        calls: list[tuple[float, int, int, Phase]]) -> None:
    page = TextPage("p", "1.0", "b")
    for uptime, served, in_flight, phase in calls:
        view = StatsView("p", "1.0", "b", uptime, served, in_flight, phase.value)
        assert page.render(uptime, served, in_flight, phase) == render_text(view).encode()


def test_html_page_escapes_and_refreshes() -> None:
    page = render_html(VIEW)
    assert "web-&lt;1&gt;" in page and "web-<1>" not in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'class="state-draining"' in page
    assert f"hsl({version_hue('2.0')} " in page


def test_versions_get_distinct_colours() -> None:
    assert version_hue("1.0") != version_hue("2.0")
    assert version_hue("1.0") == version_hue("1.0")
