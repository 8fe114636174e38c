"""JUnit XML of a test run, the format CI systems show natively (pure).

One `<testcase>` per scenario (and round, with `--repeat`), under one `<testsuite>` per
workload; a failed scenario carries a `<failure>` whose message is the one-line reason and
whose text is the attribution (one sentence per cause, with its cure); a scenario not run is
`<skipped>`. Attributes follow the common JUnit schema (the Jenkins/Ant one that GitLab, GitHub
reporters and Jenkins read): counts as integers, times as seconds with a decimal point.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from probelab.workloadtest.verdict import Limits, ScenarioResult, judge, repeated


def failure_text(result: ScenarioResult) -> str:
    lines = [cause.text for cause in result.causes]
    lines.extend(p for p in (result.ready_problem, result.setup_problem, result.rollout_problem)
                 if p)
    return "\n".join(lines)


def render(suite_name: str, results: list[ScenarioResult], limits: Limits,
           timestamp: str, hostname: str = "localhost") -> str:
    judged = [(r, judge(r, limits)) for r in results]
    failures = sum(1 for _, j in judged if not j.passed and j.kind != "Skipped")
    skipped = sum(1 for _, j in judged if j.kind == "Skipped")
    total_s = sum(r.duration_s for r in results)
    root = ET.Element("testsuites", name="probelab test", tests=str(len(results)),
                      failures=str(failures), errors="0", skipped=str(skipped),
                      time=f"{total_s:.3f}")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(results)),
                          failures=str(failures), errors="0", skipped=str(skipped),
                          time=f"{total_s:.3f}", timestamp=timestamp, hostname=hostname)
    classname = "probelab.test." + suite_name.replace("/", ".")
    rounds = repeated(results)  # --repeat N: one testcase per scenario and round
    for result, judgement in judged:
        case = ET.SubElement(suite, "testcase", name=result.name(rounds), classname=classname,
                             time=f"{result.duration_s:.3f}")
        if judgement.kind == "Skipped":
            ET.SubElement(case, "skipped", message=judgement.message)
        elif not judgement.passed:
            node = ET.SubElement(case, "failure", message=judgement.message,
                                 type=judgement.kind)
            node.text = failure_text(result) or judgement.message
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(line for line in (f"{result.action}: {judgement.message}",
                                                 result.termination_summary) if line)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
