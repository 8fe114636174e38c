"""The HTML report renders in a real browser: headless Chromium takes a screenshot and the
chart colours (successful requests green, refused red) are on it."""

import shutil
import subprocess

import pytest
from matplotlib import image

from probelab.report.html import COLORS, render_html
from probelab.report.model import PodMark, PodStep, RunRecord, SecondBucket

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it when it can)"
)


def _run() -> RunRecord:
    seconds = [SecondBucket(t, {"ok": 100 - 40 * (t == 4), "refused": 40 * (t == 4)},
                            {"1.0": 100}) for t in range(10)]
    return RunRecord(
        variant="noprobes", scenario="scale-down", keepalive=True, rate_rps=100,
        duration_s=10, action="scale to 3", action_at_s=3.0, rollout_done_at_s=7.0,
        totals={"ok": 960, "refused": 40}, seconds=seconds, failure_times={"refused": [4.2]},
        pod_marks=[PodMark(3.1, "simpleprobe-a", PodStep.TERMINATING),
                   PodMark(3.2, "simpleprobe-a", PodStep.SIGTERM)],
    )


def _has_colour(pixels, hex_colour: str, tolerance: float = 0.03) -> int:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    count = 0
    for row in pixels:
        for px in row:
            if all(abs(px[i] - rgb[i]) <= tolerance for i in range(3)):
                count += 1
    return count


def test_report_renders_charts_in_chromium(tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html([_run()]))
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
         "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.exists(), result.stderr[-2000:]
    pixels = image.imread(str(shot))[::2, ::2]  # every other pixel is plenty
    assert _has_colour(pixels, COLORS["ok"]) > 500, "no green bars on the screenshot"
    assert _has_colour(pixels, COLORS["refused"]) > 20, "no red failure bars on the screenshot"
