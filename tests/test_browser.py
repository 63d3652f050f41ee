"""The report is safe and renders: every string from the config or the data is HTML-escaped,
and report/index.html opens in headless Chromium with every figure loaded, no script error and
no console error.

The report is the workflow's own: the real snakemake CLI validates the study, checks its CSV
and runs config_snapshot, aggregate, plot and report, on training outputs written by the test
(synthetic histories, in the files' exact format; `--allowed-rules` keeps snakemake from
re-training, so no TensorFlow). The study's free-text settings carry markup: the title, a CSV
path and a CSV label column. (Dataset and optimizer *names* cannot: validation rejects them, see
test_bad_inputs.) One run diverges, so the "diverged" rendering is in the page too.

Chromium is Debian's `chromium` package; if /usr/bin/chromium is missing the test installs it
with apt-get (as root), and skips, saying why, only when that is impossible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import DEFAULT_STUDY as D
from conftest import RULES_AFTER_TRAINING, make_project, snakemake, write_config, write_fake_job
from test_divergence import EPOCHS, SEEDS, SIZES, diverge_from

from batchstudy.data import build_dataset
from batchstudy.plots import PLOTS

pytestmark = pytest.mark.e2e

TITLE = '<script>window.__pwned = 1</script> Batch & size "study"'
# Upper case: HTML tags ignore case, and Snakemake reads a lower-case "<name>" in a path as a path
# variable (the config refuses such a path before any work: tests/test_bad_inputs.py).
CSV_DIR = "data/<SCRIPT>window.__pwned = 2<"  # with the file name: data/<SCRIPT>...</SCRIPT>.csv
CSV_PATH = f"{CSV_DIR}/SCRIPT>.csv"
LABEL = "<img src=x onerror=window.__pwned=3>"
COND = ("mine", "adam", "constant", f"e{EPOCHS}")
STUDY = {
    "title": TITLE,
    "datasets": {"mine": {"kind": "csv", "path": CSV_PATH, "label_column": LABEL}},
    "epochs": EPOCHS,
    "seeds": SEEDS,
    "batch_sizes": SIZES,
    "metrics": {"bootstrap": 200},
}

# Injected into a copy of the report: record script errors, failed loads and console errors
# from the start, and after the load event write what was found into the DOM.
PROBE_HEAD = """<script>
window.__errors = [];
addEventListener('error', e => __errors.push(e.message ||
  ('failed to load ' + String((e.target && (e.target.src || e.target.href)) || e.type))
    .slice(0, 120)), true);
const __consoleError = console.error;
console.error = (...a) => { __errors.push('console.error: ' + a.join(' ')); __consoleError(...a); };
</script>"""
PROBE_TAIL = """<script>
addEventListener('load', () => {
  const imgs = [...document.images];
  const out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight]),
    errors: __errors,
    pwned: window.__pwned === undefined ? null : window.__pwned,
    title: document.title,
    h1: document.querySelector('h1').textContent,
  });
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("browser"))
    write_config(root / "config" / "config.yaml", STUDY)
    (root / CSV_DIR).mkdir(parents=True)
    rows = "".join(f"{i * 0.1:.1f},{(i * 3) % 7},{'ab'[i % 2]}\n" for i in range(40))
    (root / CSV_PATH).write_text(f"a,b,{LABEL}\n{rows}")
    data = build_dataset(STUDY["datasets"]["mine"], base=root)  # a usable dataset
    assert data.n_classes == 2 and data.features == ("a", "b") and data.n_train == 20
    for b in SIZES:
        history = write_fake_job(root, COND, b, SEEDS, EPOCHS, n_train=20)
        if b == 64:
            diverge_from(history, seed=1, epoch=8)
    snakemake(root, "--allowed-rules", *RULES_AFTER_TRAINING)
    return root / D.report_html


def test_strings_from_config_and_data_are_escaped(report):
    html = report.read_text()
    assert "<script" not in html.lower()  # the template has none; every one is escaped
    assert len(re.findall(r"<img\b", html)) == len(PLOTS) + 1  # and the overview
    assert all(
        s.startswith("data:image/png;base64,") for s in re.findall(r'<img src="([^"]+)"', html)
    )
    escaped_title = (
        "&lt;script&gt;window.__pwned = 1&lt;/script&gt; Batch &amp; size &#34;study&#34;"
    )
    assert f"<title>{escaped_title}</title>" in html and f"<h1>{escaped_title}</h1>" in html
    assert "&lt;SCRIPT&gt;window.__pwned = 2&lt;/SCRIPT&gt;.csv" in html  # the CSV path
    assert "&lt;img src=x onerror=window.__pwned=3&gt;" in html  # the label column
    assert LABEL not in html and TITLE not in html and CSV_PATH not in html
    assert "<strong>Diverged runs:</strong> B = 64 seed 1." in html
    cfg = json.loads((report.parents[2] / D.results / "config.json").read_text())
    assert cfg["title"] == TITLE and cfg["datasets"]["mine"]["label_column"] == LABEL


# ---- headless Chromium --------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _find_chromium()
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and installing it needs root (apt-get)")
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            pytest.skip(f"installing chromium timed out ({' '.join(cmd)})")
        if proc.returncode != 0:
            pytest.skip(
                f"cannot install chromium: {' '.join(cmd)} failed "
                f"({proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium in its own session and kill that session if it hangs."""
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"chromium hung: {' '.join(cmd)}\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_report_renders_in_chromium(report, chromium, tmp_path):
    html = report.read_text()
    probed = tmp_path / "probed" / "index.html"
    probed.parent.mkdir()
    probed.write_text(
        html.replace("<head>", "<head>" + PROBE_HEAD, 1).replace(
            "</body>", PROBE_TAIL + "</body>", 1
        )
    )
    dom = _run_chromium(
        chromium,
        tmp_path / "profile-dom",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-3000:]
    match = re.search(r'<pre id="__probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"the probe did not run:\n{dom.stdout[-2000:]}\n{dom.stderr[-2000:]}"
    probe = json.loads(
        match.group(1)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&amp;", "&")
    )
    assert probe["images"] == len(PLOTS) + 1  # and the overview
    assert probe["broken"] == [], f"figures that did not load: {probe['broken']}"
    assert all(w > 100 and h > 100 for w, h in probe["sizes"]), probe["sizes"]
    assert probe["errors"] == []
    assert probe["pwned"] is None  # no markup from the config ran
    assert probe["title"] == TITLE and probe["h1"] == TITLE  # shown as the text it is
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "console messages:\n" + "\n".join(console)

    shot = tmp_path / "report.png"
    taken = _run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--window-size=1200,3000",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-3000:]
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1200, 3000)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot looks blank"
    print(f"screenshot: {shot}")
