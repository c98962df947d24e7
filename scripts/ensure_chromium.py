"""Make sure headless Chromium and its WebDriver are installed for the browser tests.

Run by `make test` (and so by CI) after ensure_services.py. The dashboard's browser tests drive
Debian's `chromium` with `chromium-driver` through selenium; when either binary is missing this
installs both with apt-get (update + install). It prints one line and exits non-zero when it
cannot (no apt-get, not root, or the install failed), so the failure is plain before pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
# A font covering Chinese, so screenshots of the zh-CN pages show characters, not boxes;
# optional: the tests read the DOM, not pixels.
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"


def missing_binaries() -> list[Path]:
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]


def apt_command() -> list[str] | None:
    """apt-get as root directly, through non-interactive sudo otherwise; None when neither works."""
    if not shutil.which("apt-get"):
        return None
    if os.geteuid() == 0:
        return ["apt-get"]
    if shutil.which("sudo"):
        return ["sudo", "-n", "apt-get"]
    return None


def cjk_font_missing() -> bool:
    if not shutil.which("fc-list"):
        return True
    listing = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return not listing.stdout.strip()


def install(packages: tuple[str, ...]) -> str | None:
    """Install ``packages``; the error line when it fails, None on success."""
    apt = apt_command()
    if apt is None:
        return "apt-get is not usable here (need root or passwordless sudo)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        [*apt, "update", "-qq"],
        [*apt, "install", "-y", "-qq", "--no-install-recommends", *packages],
    ]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return f"`{' '.join(step)}` failed: {last}"
    return None


def main() -> int:
    if missing_binaries():
        print(f"installing {' and '.join(PACKAGES)} ...", file=sys.stderr)
        problem = install(PACKAGES)
        if problem is not None or missing_binaries():
            names = ", ".join(str(path) for path in missing_binaries())
            print(
                f"error: cannot install Chromium: {problem or names + ' still missing'}",
                file=sys.stderr,
            )
            return 1
    if cjk_font_missing() and install((CJK_FONT_PACKAGE,)) is not None:
        print(
            f"note: {CJK_FONT_PACKAGE} not installed; screenshots show boxes for Chinese",
            file=sys.stderr,
        )
    version = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, check=False
    )
    print(f"chromium: {version.stdout.strip() or 'installed'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
