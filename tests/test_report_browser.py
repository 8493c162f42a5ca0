"""The HTML report in a real headless browser: it renders without script errors, and at 1400x900 the
verdict box lies within the first screen (its bounding rectangle, measured by the browser after layout).

Needs Chromium from the distribution's packages (`apt-get install -y chromium`); skipped where it is
missing, except under CI=true, where a missing browser is a failure (CI installs it).
"""

import copy
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import report
from bench.results import load_run
from tests.fixtures.plan import example_plan

EXAMPLE = Path(__file__).resolve().parent.parent / "reports" / "example" / "run.json"
WIDTH, HEIGHT = 1400, 900
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
         "--virtual-time-budget=10000"]
# Added to a copy of the page only (the report itself has no scripts): record errors, then the box's rect.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const box = document.getElementById('verdict');
  const r = box ? box.getBoundingClientRect() : null;
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({rect: r && {top: r.top, bottom: r.bottom, left: r.left, right: r.right},
    width: window.innerWidth, height: window.innerHeight, errors: window.__errors,
    images: Array.from(document.images).map(i => i.naturalWidth)});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no chromium: install it (apt-get install -y chromium)")
    pytest.skip("no chromium here (apt-get install -y chromium)")


@pytest.mark.parametrize("with_plan", [True, False])
def test_verdict_box_is_on_the_first_screen(tmp_path, with_plan):
    browser = chromium()
    doc = load_run(EXAMPLE)
    if with_plan:
        doc = copy.deepcopy(doc)
        doc["plan"] = example_plan()
    folder = report.write_all(doc, tmp_path / "report")
    page = (folder / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    profile = tmp_path / "profile"
    for _ in range(3):  # a starved machine can end the dump before the page's load event: try again
        dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probed.as_uri()],
                             check=False, capture_output=True, text=True, timeout=120)
        found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.DOTALL)
        if found:
            break
    assert found, (dom.returncode, dom.stderr[-2000:])
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["errors"] == []
    assert probe["images"] and all(w > 0 for w in probe["images"])  # every embedded plot decoded
    rect = probe["rect"]
    assert rect is not None, "no element with id=verdict"
    # the viewport of a 1400x900 window (headless Chromium keeps some of the height for its own frame)
    assert probe["width"] == WIDTH and 0 < probe["height"] <= HEIGHT
    assert 0 <= rect["top"] < rect["bottom"] <= probe["height"], probe  # the whole box on the first screen
    assert rect["right"] <= WIDTH
    shot = tmp_path / "first_screen.png"
    subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    (folder / "report.html").as_uri()], check=False, capture_output=True, text=True, timeout=120)
    assert shot.read_bytes().startswith(b"\x89PNG")
