"""The HTML report as a person sees it: headless Chromium opens it from a file:// URL, offline.

One Chromium run per page does three things at once: ``--screenshot`` (the pixels, checked
not blank), ``--dump-dom`` (the document after the inline script ran) and ``--log-net-log``
(Chromium's own record of every network request). A request *of the page* is one whose
network isolation key is the page's site, ``file://``; Chromium's own background requests
(component updates, sign-in) carry other keys and are not the page's doing. Console messages
(script errors, Content-Security-Policy refusals) go to stderr with ``--enable-logging``.
The page visited is the report with one test script appended that clicks the σ2 column header
twice, so the dumped DOM also shows the table sorted by the report's own script. A control page
with an external image and almost nothing on it shows that each check can fail. Skipped, with
the reason, only where no Chromium is installed (.ci/run installs the Debian package
``chromium``).
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest
from matplotlib.image import imread

from graphtools.analysis import analyze_checkpoint
from graphtools.html_report import render_html
from test_plot_checkpoint import small_state

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1200, 1400)
#: Clicks the σ2 header of the matrices table twice (ascending, then descending).
CLICK_SIGMA2 = """<script>
var header = Array.prototype.find.call(document.querySelectorAll('table.sortable th'),
                                       function (th) { return th.textContent === '\u03c32'; });
header.click(); header.click();
document.body.setAttribute('data-clicked', header.getAttribute('aria-sort'));
</script>"""


def find_chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium on this machine (apt-get install chromium; .ci/run does)")


@dataclass
class Visit:
    screenshot: np.ndarray  # height × width × channels, floats in [0, 1]
    dom: str
    page_requests: list[str]
    console: list[str]


def page_requests(netlog_path) -> list[str]:
    """URLs the page itself requested, from Chromium's net log (see the module docstring)."""
    with open(netlog_path, encoding="utf-8") as handle:
        log = json.load(handle)
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            if "file://" in params.get("network_isolation_key", "") or params.get("initiator") == "null":
                urls.append(params["url"])
    return urls


def visit(browser, page, folder) -> Visit:
    folder.mkdir()
    shot, netlog = folder / "shot.png", folder / "net.json"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--disable-extensions", "--enable-logging=stderr", "--v=0", f"--user-data-dir={folder / 'profile'}",
               f"--log-net-log={netlog}", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(folder)})
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Visit(imread(shot), done.stdout, page_requests(netlog), console)


def is_blank(image: np.ndarray) -> bool:
    """Almost all white (under 2 % of pixels darker than 0.9 in some channel), or almost one colour."""
    rgb = image[..., :3]
    inked = (rgb < 0.9).any(axis=-1).mean()
    colours = len(np.unique((rgb * 15).round().reshape(-1, 3), axis=0))
    return inked < 0.02 or colours < 8


def test_report_renders_offline_in_chromium(tmp_path):
    browser = find_chromium()
    checkpoint = tmp_path / "lstm.npz"
    np.savez(checkpoint, **small_state())
    report = analyze_checkpoint(checkpoint)
    page = tmp_path / "report.html"
    text = render_html(report)
    assert text.rstrip().endswith("</body></html>")
    page.write_text(text.rstrip()[: -len("</body></html>")] + CLICK_SIGMA2 + "</body></html>\n", encoding="utf-8")

    seen = visit(browser, page, tmp_path / "report")
    assert seen.screenshot.shape[:2] == (WINDOW[1], WINDOW[0])
    assert not is_blank(seen.screenshot)
    assert seen.page_requests == []
    assert seen.console == []  # no script error, no Content-Security-Policy refusal
    assert 'data-sortable="ready"' in seen.dom  # the inline script ran to its end
    assert 'data-clicked="descending"' in seen.dom
    rows = re.findall(r'<tr><td class="text">([^<]+)</td><td class="text">-</td>', seen.dom)
    assert rows == [layer.name for layer in sorted(report.layers, key=lambda layer: -layer.sigma2)]
    assert rows != [layer.name for layer in report.layers]  # the click changed the order
    assert seen.dom.count("<img") == 3

    control = tmp_path / "control.html"  # no CSP, one external image, nearly empty: every check must fire
    control.write_text('<!doctype html><html><body><p>.</p><img src="http://127.0.0.1:9/x.png"></body></html>')
    seen = visit(browser, control, tmp_path / "control")
    assert seen.page_requests == ["http://127.0.0.1:9/x.png"]
    assert is_blank(seen.screenshot)
