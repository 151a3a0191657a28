"""The painter in a real browser: JupyterLab from the venv, headless Debian chromium driven by Playwright.

A mouse drag across the painter's canvas must change the ids the next cell reads. Skips (with the
reason) when chromium or playwright is missing: as root ``apt-get install -y chromium``, and
``pip install -e '.[dev]'`` for playwright (its own browser download is not used). The screenshot goes
to ``$PAINTER_SCREENSHOT`` when set, else into the test's tmp folder.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CAR = 13
CELLS = ["from semsegdiff.widgets import Painter\np = Painter(size=32, zoom=12, cls='car')\np",
         f'print("CHANGED", int((p.mask == {CAR}).sum()))']


def _skip(reason: str):
    print(f"SKIPPED: {reason}")
    pytest.skip(reason)


def _notebook(path: Path) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(CELLS)]
    meta = {"kernelspec": {"name": "semsegdiff", "display_name": "Python (semsegdiff)", "language": "python"},
            "language_info": {"name": "python"}}
    path.write_text(json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET") -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        return r.status


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free localhost port with a token, all its state under tmp_path."""
    chromium = shutil.which("chromium")
    if chromium is None:
        _skip("chromium is not installed (as root: apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip("playwright is not installed (pip install playwright, part of the dev extra)")
    lab = Path(sys.executable).parent / "jupyter-lab"
    assert lab.exists(), f"{lab} is missing: JupyterLab is a dependency, run `make install`"
    from jupyter_client.kernelspec import KernelSpecManager

    assert "semsegdiff" in KernelSpecManager().find_kernel_specs(), "the semsegdiff kernel is not registered: make install"

    home, port, token = tmp_path / "home", _free_port(), os.urandom(16).hex()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "IPYTHONDIR": str(home / "ipython"),
           "MPLCONFIGDIR": str(home / "matplotlib"), "JUPYTER_CONFIG_DIR": str(home / "jupyter/config"),
           "JUPYTER_DATA_DIR": str(home / "jupyter/data"), "JUPYTER_RUNTIME_DIR": str(home / "jupyter/runtime"),
           "JUPYTER_PLATFORM_DIRS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # this checkout
    settings = home / "jupyter/config/lab/user-settings/@jupyterlab"  # a fresh lab: no news toast over the cells,
    for plugin, values in (("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
                           ("notebook-extension/tracker", {"autoStartDefaultKernel": True})):  # no kernel dialog
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    root_dir = tmp_path / "notebooks"
    root_dir.mkdir()
    _notebook(root_dir / "painter.ipynb")
    cmd = [str(lab), "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{base}/api/status?token={token}") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield dict(url=f"{base}/lab/tree/painter.ipynb?token={token}", chromium=chromium, env=env, home=home)
    finally:
        _shutdown(proc, f"{base}/api/shutdown?token={token}")
        log.close()


def _shutdown(proc: subprocess.Popen, shutdown_url: str) -> None:
    """Ask the server to stop (it stops its kernels), then terminate its process group and leftover kernels."""
    try:
        import psutil
        kids = psutil.Process(proc.pid).children(recursive=True)  # kernels run in sessions of their own
    except Exception:
        kids = []
    try:
        _get(shutdown_url, method="POST")
        proc.wait(timeout=20)
    except Exception:
        pass
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    for kid in kids:
        try:
            kid.kill()
        except Exception:  # already gone
            pass


def _run(page, cell, until, timeout: float) -> None:
    """Run a cell until ``until`` shows: click its editor (a canvas keeps the keyboard focus), Shift+Enter.
    A run the lab drops (pressed while the kernel was connecting: the prompt stays ``[ ]``) is pressed
    again; should the lab ask for a kernel, the dialog's default (the notebook's kernel) is chosen."""
    select = page.locator(".jp-Dialog button.jp-mod-accept")
    prompt = cell.locator(".jp-InputPrompt")
    deadline, pressed = time.monotonic() + timeout, -1e9
    while not until.first.is_visible():
        if select.count() and select.first.is_visible():
            select.first.click()
        elif prompt.inner_text().strip() in ("", "[ ]:") and time.monotonic() - pressed > 10:
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            pressed = time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {until} after {timeout} s; the cell's prompt: {prompt.inner_text()!r}")
        page.wait_for_timeout(250)


def test_drag_on_the_painter_changes_the_mask_the_next_cell_reads(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = Path(os.environ.get("PAINTER_SCREENSHOT", tmp_path / "painter.png"))
    browser_env = {k: jupyterlab["env"][k] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "PATH")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=jupyterlab["chromium"], args=CHROMIUM_ARGS, env=browser_env)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(60_000)
            page.goto(jupyterlab["url"])
            cells = page.locator(".jp-Notebook .jp-Cell")
            cells.nth(1).wait_for()
            page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle")).wait_for(timeout=120_000)
            canvas = cells.nth(0).locator(".jp-OutputArea-output canvas").first
            _run(page, cells.nth(0), until=canvas, timeout=180)  # the kernel starts and imports torch first
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            assert box["width"] == pytest.approx(32 * 12, abs=1), box  # zoom 12, no CSS scaling

            page.wait_for_timeout(500)  # let the initial image arrive
            y = box["y"] + box["height"] * 0.5
            page.mouse.move(box["x"] + box["width"] * 0.2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.8, y + box["height"] * 0.2, steps=12)
            page.mouse.up()
            page.wait_for_timeout(1000)  # the strokes' draw commands come back to the canvas

            out = cells.nth(1).locator(".jp-OutputArea-output")
            _run(page, cells.nth(1), until=out.filter(has_text="CHANGED"), timeout=60)
            page.screenshot(path=str(shot), full_page=True)
            text = out.inner_text()
        except Exception:
            page.screenshot(path=str(shot), full_page=True)  # what the page showed when it went wrong
            print(f"JupyterLab's log:\n{(tmp_path / 'jupyterlab.log').read_text()[-4000:]}")
            raise
        finally:
            print(f"screenshot: {shot}")
            browser.close()
    count = int(re.search(r"CHANGED (\d+)", text).group(1))
    assert count > 0, text
