"""Where the end-to-end test finds the unmodified EDD client (``client/README.md``): a file
this repository does not ship. Read by the rig (conftest.py) and by tests/skip_report.py,
which counts the skip its absence causes as expected."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "client" / "EDD_SL_Plugin_Updater.php"
# The reason every test that needs it gives when it is absent (a prefix skip_report knows).
SKIP_REASON = "needs the EDD updater fixture"


def updater_path() -> Path:
    """``EDD_SL_UPDATER_FILE`` when set, else client/EDD_SL_Plugin_Updater.php."""
    return Path(os.environ.get("EDD_SL_UPDATER_FILE") or DEFAULT_PATH)


def updater_present() -> bool:
    return updater_path().is_file()
