"""Every license key the suite used, and the search for them in the servers' output."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from bench.faults.result import Result
from bench.services import Stack


class KeysUsed:
    """Every license key the suite sent or was given, canonical (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: set[str] = set()

    def note(self, raw: object) -> None:
        from licensing.keys import canonical_license_key

        key = canonical_license_key(raw)
        if key is not None:  # a malformed key of scenario 7 is no key
            with self.lock:
                self.keys.add(key)

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.keys)


KEYS_USED = KeysUsed()


_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


_NOT_A_SYMBOL = re.compile(r"[^0-9A-Z]+")


KEY_BODY = 30  # the symbols after a key's prefix: what no log line may show


def squeezed(text: str) -> str:
    """``text`` as a key reader sees it: percent-decoded, upper-cased, look-alikes mapped,
    everything but letters and digits dropped, so a key shows in any form it was written."""
    return _NOT_A_SYMBOL.sub("", unquote(text).upper()).translate(_LOOKALIKES)


def leaked_keys(text: str, keys: Iterable[str]) -> dict[str, int]:
    """The keys whose 30 symbols after the prefix appear in ``text`` in any form, with how
    many times (by display prefix, so the report itself shows no key)."""
    bodies = {key.replace("-", "")[-KEY_BODY:]: key for key in keys}
    found: Counter[str] = Counter()
    for line in text.splitlines():
        flat = squeezed(line)
        for start in range(len(flat) - KEY_BODY + 1):
            key = bodies.get(flat[start : start + KEY_BODY])
            if key is not None:
                found[key[:10] + "…"] += 1
    return dict(found)


class OutputWatch:
    """Reads what each server wrote since the last look (whole lines only)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.offsets: dict[Path, int] = {}

    def new_text(self) -> str:
        parts = []
        for path in sorted(self.stack.base.glob("*/server.log")):
            if path == self.stack.postgres.log:  # PostgreSQL's own log is not the service's
                continue
            with path.open("rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = self.offsets.get(path, 0) + len(complete)
            parts.append(complete.decode(errors="replace"))
        return "".join(parts)


def judge_output(result: Result, watch: OutputWatch) -> None:
    """Fail the scenario if the servers' output of its run shows any key the suite used."""
    keys = KEYS_USED.snapshot()
    leaks = leaked_keys(watch.new_text(), keys)
    if leaks:
        shown = ", ".join(f"{prefix} ({n}x)" for prefix, n in sorted(leaks.items())[:5])
        result.fail(f"{len(leaks)} full license keys in the server output: {shown}")
        result.passed = False
    result.figures["license keys in the server output"] = (
        f"{len(leaks)} of the {len(keys)} keys used so far (any case, dashes, %-encoding)"
    )


def key_forms(key: str) -> list[str]:
    """A key as customers and scripts send it: the service accepts every one of these."""
    bare = key.replace("-", "")
    return [
        key,
        key.lower(),
        bare,
        bare.lower(),
        key[:5] + key[5:].replace("-", ""),
        key[:8] + "-" + key[8:].replace("-", "").lower(),
        key.replace("-", "%2D"),
    ]
