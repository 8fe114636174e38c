"""Report: the pure summary (rows, sentences, verdict) and the rendered HTML."""

import json
import xml.etree.ElementTree as ET

from rich.console import Console

from probelab.report.html import render_html
from probelab.report.model import EndpointSample, PodMark, PodStep, RunRecord, SecondBucket
from probelab.report.summary import explain, row, verdict
from probelab.report.text import render_table, write_json


def make_run(variant: str, failures: dict[str, list[float]], marks=()) -> RunRecord:
    totals = {"ok": 1000} | {cls: len(times) for cls, times in failures.items()}
    seconds = [SecondBucket(t, {"ok": 100}, {"1.0": 60, "2.0": 40}) for t in range(10)]
    for cls, times in failures.items():
        for t in times:
            bucket = seconds[int(t)]
            bucket.by_class[cls] = bucket.by_class.get(cls, 0) + 1
    return RunRecord(
        variant=variant, scenario="scale-down", keepalive=True, rate_rps=100, duration_s=10,
        action="scale 10→3", action_at_s=3.0, rollout_done_at_s=8.0, totals=totals,
        seconds=seconds, failure_times=failures,
        endpoints=[EndpointSample(0, 10), EndpointSample(3.1, 3),
                   EndpointSample(4.1, 3, source="proxy")],
        pod_marks=list(marks),
    )


def test_zero_failures_sentence_and_verdict() -> None:
    run = make_run("withprobes", {})
    assert explain(run) == "All 1000 requests succeeded during scale 10→3."
    assert verdict([run]) == (True, "every withprobes run had zero failures (1 of 1)")


def test_resent_requests_are_told_in_the_sentence() -> None:
    run = make_run("withprobes", {})
    run.resent = 2
    assert explain(run) == (
        "All 1000 requests succeeded during scale 10→3. 2 requests met the keep-alive race (a "
        "reused connection closed before any response byte) and went once more on a new "
        "connection, as hey and browsers do.")
    run = make_run("noprobes", {"reset": [3.5]}, [PodMark(3.0, "web-a", PodStep.SIGTERM)])
    run.resent = 1
    assert explain(run).endswith(". 1 request met the keep-alive race (a reused connection "
                                 "closed before any response byte) and went once more on a "
                                 "new connection, as hey and browsers do.")


def test_requests_the_client_never_sent_keep_a_clean_run_from_passing() -> None:
    """Zero failures among the requests sent is no proof when the load client itself fell
    behind its schedule: the server was never asked for those requests."""
    run = make_run("withprobes", {})
    run.not_sent = 40
    assert explain(run).endswith("The load client could not send 40 requests on schedule (its "
                                 "own limit, not the server's), so this run does not show zero "
                                 "downtime.")
    ok, message = verdict([run])
    assert not ok and "could not keep its schedule" in message and "40 not sent" in message
    noprobes = make_run("noprobes", {"reset": [3.5]})
    noprobes.not_sent = 5  # a run meant to fail may fall behind without changing the verdict
    assert verdict([make_run("withprobes", {}), noprobes])[0]


def test_termination_race_is_named_with_counts_and_times() -> None:
    marks = [PodMark(3.2, "web-a", PodStep.TERMINATING), PodMark(3.3, "web-a", PodStep.SIGTERM)]
    run = make_run("noprobes", {"refused": [3.5, 4.25], "reset": [3.9]}, marks)
    sentence = explain(run)
    assert sentence.startswith("2 connections refused between 3.5 s and 4.2 s; 1 connection reset")
    assert "stopped listening while still in the proxy's endpoints" in sentence
    r = row(run)
    assert (r.requests, r.ok, r.refused, r.reset) == (1003, 1000, 2, 1)


def test_startup_race_is_named() -> None:
    marks = [PodMark(5.0, "web-new", PodStep.STARTED)]
    run = make_run("noprobes", {"refused": [5.2, 5.4]}, marks)
    assert "before they listened" in explain(run)


def test_reset_only_on_local_engine_mentions_the_userspace_proxy() -> None:
    marks = [PodMark(3.0, "web-a", PodStep.SIGTERM)]
    sentence = explain(make_run("noprobes", {"reset": [3.5]}, marks))
    assert sentence.startswith("1 connection reset at 3.5 s")
    assert "iptables" in sentence


def test_verdict_fails_on_withprobes_failures() -> None:
    ok, text = verdict([make_run("withprobes", {"reset": [4.0]}), make_run("noprobes", {})])
    assert not ok and "withprobes/scale-down (1 failed)" in text


def test_html_is_self_contained_with_one_svg_per_run() -> None:
    marks = [PodMark(3.2, "web-a", PodStep.TERMINATING), PodMark(3.4, "web-a", PodStep.SIGTERM)]
    runs = [make_run("noprobes", {"refused": [3.5]}, marks), make_run("withprobes", {})]
    page = render_html(runs)
    assert page.count("<svg") == 2
    # nothing is fetched: no scripts, stylesheets, images or links by URL
    for needle in ("<script", "<link", "<img", 'href="http', "src=", "url(http"):
        assert needle not in page
    for chunk in page.split("<svg")[1:]:
        svg = "<svg" + chunk.split("</svg>")[0] + "</svg>"
        ET.fromstring(svg)  # well-formed


def test_text_table_and_json(tmp_path) -> None:
    runs = [make_run("noprobes", {"refused": [3.5]}), make_run("withprobes", {})]
    console = Console(record=True, width=140)
    render_table(runs, console)
    out = console.export_text()
    assert "noprobes" in out and "withprobes" in out and "Verdict" in out
    path = tmp_path / "r.json"
    write_json(runs, path)
    doc = json.loads(path.read_text())
    assert doc["verdict"]["passed"] is True
    assert doc["table"][0]["refused"] == 1
    assert doc["runs"][0]["failure_times"]["refused"] == [3.5]


def test_every_outcome_class_has_a_colour_and_words() -> None:
    """The classes come from the load generator; one it adds must not vanish from the report."""
    from probelab.report.html import COLORS
    from probelab.report.model import FAILURE_CLASSES, OUTCOME_CLASSES
    from probelab.report.summary import CLASS_WORDS

    assert set(OUTCOME_CLASSES) <= set(COLORS)
    assert set(FAILURE_CLASSES) <= set(CLASS_WORDS)


def test_unreachable_pods_are_counted_in_words_and_in_the_table() -> None:
    """Kernel data plane: a SYN DNATed to a pod whose network is gone fails EHOSTUNREACH."""
    marks = [PodMark(3.0, "web-a", PodStep.SIGTERM), PodMark(3.2, "web-a", PodStep.EXITED)]
    run = make_run("noprobes", {"refused": [3.1], "unreachable": [3.4, 3.6]}, marks)
    sentence = explain(run)
    assert sentence.startswith("1 connection refused at 3.1 s; 2 hosts unreachable between "
                               "3.4 s and 3.6 s: pods stopped listening"), sentence
    assert (row(run).refused, row(run).unreachable) == (1, 2)
    console = Console(record=True, width=140)
    render_table([run], console)
    text = console.export_text().splitlines()
    header = [h.strip() for h in next(line for line in text if "variant" in line).split("┃")]
    cells = [c.strip() for c in next(line for line in text if "noprobes │" in line).split("│")]
    assert cells[header.index("unreach.")] == "2"
    assert "unreach." in render_html([run])
