"""Drives one headless Chromium page for tests/browser_setup.py, in the Python that has Playwright.

Usage: python browser_driver.py CHROMIUM PROFILE_DIR [CHROMIUM_ARGS...]; then one JSON command per
line on stdin, one JSON answer per line on stdout: {"ping"}, {"goto": URL}, {"wait": JS, "timeout": S}
(answers the seconds it took), {"eval": JS}, {"screenshot": PATH}, {"quit"}. Errors are answered,
not raised, so the test reads them.
"""

import json
import sys
import time

from playwright.sync_api import Error, sync_playwright


def main() -> None:
    executable, profile, *args = sys.argv[1:]
    with sync_playwright() as playwright:
        # headless=False: --headless is in `args`, as the test gives Chromium its switches itself.
        # bypass_csp: Playwright polls a wait's expression by evaluating it in the page, which the
        # dashboard's own Content-Security-Policy (no eval) would refuse.
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=False, args=args, bypass_csp=True,
            viewport={"width": 1000, "height": 760}, device_scale_factor=1)
        page = context.pages[0] if context.pages else context.new_page()
        for line in sys.stdin:
            command = json.loads(line)
            try:
                if "quit" in command:
                    answer(ok=True)
                    break
                if "goto" in command:
                    page.goto(command["goto"])
                    answer(ok=True)
                elif "wait" in command:
                    started = time.monotonic()
                    page.wait_for_function(command["wait"], timeout=1000 * command["timeout"], polling=50)
                    answer(elapsed=time.monotonic() - started)
                elif "eval" in command:
                    answer(value=page.evaluate(command["eval"]))
                elif "screenshot" in command:
                    page.screenshot(path=command["screenshot"], full_page=True)
                    answer(ok=True)
                else:
                    answer(ok=True)
            except Error as e:
                answer(error=str(e).splitlines()[0])
        context.close()


def answer(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
