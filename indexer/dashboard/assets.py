"""Where the dashboard finds Chart.js: installed by the project's setup, served locally.

`make setup` runs `npm ci`, which installs chart.js (pinned in package.json) under the
checkout's node_modules; the dashboard serves that file itself, so pages never reach a CDN.
An installed product that does not run from a checkout points ``CCL_DASHBOARD_CHART_JS`` at
its copy of ``chart.umd.js``. Without one the pages still work, showing tables only.
"""

from __future__ import annotations

import os
from pathlib import Path

CHART_JS_ENV = "CCL_DASHBOARD_CHART_JS"
_RELATIVE = Path("node_modules") / "chart.js" / "dist" / "chart.umd.js"


def chart_js_path() -> Path | None:
    """The first Chart.js found: the environment's, the checkout's, the working directory's."""
    configured = os.environ.get(CHART_JS_ENV)
    candidates = [Path(configured)] if configured else []
    candidates += [Path(__file__).resolve().parents[2] / _RELATIVE, Path.cwd() / _RELATIVE]
    return next((path for path in candidates if path.is_file()), None)
