"""The HTML reports: static pages with no network access that share one stylesheet, rendered in a
real headless Chromium (Debian's `chromium` package; `tox -e html` runs this module, CI installs
the package).

Set CONFORMANCE_SCREENSHOTS=DIR to keep the screenshots for a look.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.report.publish import publish
from tests.report_samples import sample_backend_report, sample_records

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "reports"
CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
# Outside CI a missing browser is a skip; in CI (.ci/run installs it) it is a failure, so the
# rendering check can never pass by not running.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A conforming report, a failing one, an incomplete one, and their matrix."""
    out = tmp_path_factory.mktemp("html")
    passing = [r for r in sample_records() if r["status"] != "failed"]
    crash = {
        "kind": "signal",
        "phase": "run",
        "message": "crashed: the worker was killed by SIGABRT (while running suite.py::test_x)",
        "signal": "SIGABRT",
        "log_tail": 'Fatal Python error: Aborted\n  File "adapter.py", line 3 in vjp',
    }
    reports = [
        sample_backend_report(passing, label="reference:cpu"),
        sample_backend_report(label="torch:cpu"),
        sample_backend_report(sample_records()[:1], label="mygrad:cpu", crash=crash),
    ]
    publish(reports, out)
    return {
        "passing": out / "reference-cpu.html",
        "failing": out / "torch-cpu.html",
        "crashed": out / "mygrad-cpu.html",
        "matrix": out / "index.html",
    }


def render(page: Path, tmp_path: Path) -> tuple[str, str, Path]:
    """(DOM after rendering, console log lines, screenshot) of a page in headless Chromium."""
    assert CHROMIUM is not None
    shots = Path(os.environ.get("CONFORMANCE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"{page.stem}.png"
    profile = tmp_path / f"profile-{page.stem}"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    picture = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0 and picture.returncode == 0, dom.stderr[-2000:]
    console = [
        line
        for line in (dom.stderr + picture.stderr).splitlines()
        if ":CONSOLE" in line or "Uncaught" in line
    ]
    return dom.stdout, "\n".join(console), shot


# -- static properties -----------------------------------------------------------------------
@pytest.mark.parametrize("which", ["passing", "failing", "crashed", "matrix"])
def test_static_pages_without_network_or_script(pages: dict[str, Path], which: str) -> None:
    html = pages[which].read_text()
    assert html.startswith("<!doctype html>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""\b(src|href)=["']?(https?:)?//""", html), "fetches something"
    assert not re.search(r"url\(", html), "CSS that loads something"


@pytest.mark.parametrize("which", ["passing", "failing", "crashed", "matrix"])
def test_pages_share_one_stylesheet(pages: dict[str, Path], which: str) -> None:
    """The CSS is in style.css next to the pages, once, not repeated in each page."""
    html = pages[which].read_text()
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="stylesheet" href="style.css">']
    assert "<style" not in html
    stylesheet = (pages[which].parent / "style.css").read_text()
    assert ".verdict" in stylesheet and not re.search(r"url\(|@import", stylesheet)


def test_failures_expand_with_details(pages: dict[str, Path]) -> None:
    html = pages["failing"].read_text()
    assert "Does not conform: 1 of 3 applicable requirements fail" in html
    failure = re.search(r'<details class="failure".*?</div></details>', html, re.S)
    assert failure is not None
    text = failure.group(0)
    assert "FAKE-002" in text
    assert "gradient [2.0] differs from the reference [1.0]" in text
    assert "Standalone reproducer" in text and "import torch" in text
    # The reproducer shows the counterexample as code; the JSON form is in the JSON report.
    assert "x = torch.tensor([0.5, -1.25], dtype=torch.float64, requires_grad=True)" in text


def test_incomplete_report_says_so_first(pages: dict[str, Path]) -> None:
    html = pages["crashed"].read_text()
    header = html.split("</header>")[0]
    assert 'class="verdict incomplete"' in header
    assert "killed by SIGABRT" in header
    assert "Fatal Python error: Aborted" in html


# -- in a real browser -----------------------------------------------------------------------
@needs_chromium
@pytest.mark.parametrize("which", ["failing", "crashed", "matrix"])
def test_renders_in_chromium_without_console_errors(
    pages: dict[str, Path], which: str, tmp_path: Path
) -> None:
    dom, console, shot = render(pages[which], tmp_path)
    assert console == ""
    assert "</html>" in dom
    expected = {
        "failing": "Does not conform: 1 of 3 applicable requirements fail",
        "crashed": "Incomplete report.",
        "matrix": "Conformance matrix",
    }[which]
    assert expected in dom
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"


@needs_chromium
def test_the_console_check_catches_errors(tmp_path: Path) -> None:
    """The check above can fail: a page that breaks its own policy shows up in the log."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        "<p>x</p><script>undefinedFunction()</script>"
    )
    _, console, _ = render(page, tmp_path)
    assert "Content Security Policy" in console


@needs_chromium
def test_published_reports_render(tmp_path: Path) -> None:
    published = sorted(PUBLISHED.glob("*.html"))
    assert published, "reports/ must hold the published HTML reports (tox -e reports)"
    for page in published:
        dom, console, _ = render(page, tmp_path)
        assert console == "", f"{page.name}: {console}"
        assert "autograd-conformance" in dom or "Conformance matrix" in dom


@needs_chromium
def test_the_shared_stylesheet_applies_under_the_pages_policy(
    pages: dict[str, Path], tmp_path: Path
) -> None:
    """The page's Content-Security-Policy lets its linked style.css in: without the file next to
    it, the same page renders differently."""
    bare = tmp_path / "bare"
    bare.mkdir()
    alone = bare / pages["failing"].name
    alone.write_text(pages["failing"].read_text())
    _, console, shot = render(pages["failing"], tmp_path / "styled")
    assert console == ""
    styled = shot.read_bytes()  # before the next render (CONFORMANCE_SCREENSHOTS: same file)
    _, _, unstyled = render(alone, tmp_path / "unstyled")
    assert styled != unstyled.read_bytes()
