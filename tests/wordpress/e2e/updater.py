"""Which update client the end-to-end test's plugin bundles (``client/README.md``): EDD's
unmodified ``EDD_SL_Plugin_Updater`` when its file is there (a file this repository does not
ship), else the test's own protocol client, ``client/protocol_updater.php``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parent / "client"
DEFAULT_PATH = CLIENT_DIR / "EDD_SL_Plugin_Updater.php"
PROTOCOL_CLIENT = CLIENT_DIR / "protocol_updater.php"
ENV_VAR = "EDD_SL_UPDATER_FILE"


@dataclass(frozen=True, slots=True)
class Updater:
    """An update client as the test plugin bundles it."""

    source: Path  # the file the test copies
    filename: str  # its name in the plugin's folder (the plugin looks for it)
    class_name: str  # the class the plugin sets up

    @property
    def is_edd(self) -> bool:
        return self.class_name == "EDD_SL_Plugin_Updater"


def updater_path() -> Path:
    """Where EDD's file is looked for: ``EDD_SL_UPDATER_FILE`` when set, else
    client/EDD_SL_Plugin_Updater.php."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def bundled_updater() -> Updater:
    """EDD's class when its file is there, else the protocol client."""
    edd = updater_path()
    if edd.is_file():
        return Updater(edd, "EDD_SL_Plugin_Updater.php", "EDD_SL_Plugin_Updater")
    return Updater(PROTOCOL_CLIENT, "protocol_updater.php", "WPE2E_Protocol_Updater")


def updater_problem() -> str | None:
    """``EDD_SL_UPDATER_FILE`` set to a file that is not there: a mistake, not a reason to
    fall back to the protocol client quietly."""
    named = os.environ.get(ENV_VAR)
    if named and not Path(named).is_file():
        return f"{ENV_VAR}={named} names no file"
    return None
