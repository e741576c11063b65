"""Load generators: writers that verify their own writes, readers, phase timelines."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.faults.http import Answer, Api, Tally
from bench.faults.seeding import Lic, future, parse_time
from bench.faults.truth import mismatch


class Writer:
    """Owns one license; each step makes one change and checks it from another connection.

    The change is a lifecycle action (suspend, resume, renew, set_seats) or an activation
    or deactivation; the check goes through a different client (so another connection,
    often another worker) right after the write was answered. A check that does not show
    the write is stale.
    """

    def __init__(  # noqa: PLR0913, PLR0917 (its license, its three clients, the shared tally)
        self, name: str, lic: Lic, brand: Api, product: Api, reader: Api, tally: Tally
    ):
        self.name = name
        self.lic = lic
        self.brand = brand
        self.product = product
        self.reader = reader
        self.tally = tally
        self.rng = random.Random(name)
        self.stale: list[str] = []
        self.stale_persistent = 0
        self.rounds = 0
        self.answered = 0.0  # when the last write was answered (monotonic)
        self.write_failures: list[str] = []
        self.writes: Counter[str] = Counter()

    def _instance(self) -> str:
        self.lic.counter += 1
        n = self.lic.counter
        if n % 2:
            return f"https://www.{self.name}-{n}.example.com/"
        return f"machine-{self.name}-{n}"

    @staticmethod
    def _normalized(instance: str) -> str:
        if instance.startswith("https://www."):
            return instance[len("https://www.") :].rstrip("/")
        return instance

    def choose(self) -> str:
        lic = self.lic
        options = ["renew", "set_seats"]
        if lic.status == "valid":
            options += ["suspend"]
            if lic.max_seats is None or len(lic.instances) < lic.max_seats:
                options += ["activate"] * 3
        else:
            options += ["resume"] * 2
        if lic.instances:
            options += ["deactivate"] * 2
        return self.rng.choice(options)

    def step(self) -> bool:
        """One write and its check. False when the write itself failed."""
        action = self.choose()
        instance: str | None = None
        if action == "activate":
            answer, instance = self._activate()
        elif action == "deactivate":
            answer, instance = self._deactivate()
        else:
            answer = self._lifecycle(action)
        self.answered = answer.started + answer.elapsed
        if answer.status != 200:
            self.write_failures.append(f"{action}: {answer.brief()}")
            return False
        self.writes[action] += 1
        self.rounds += 1
        self.verify(self._normalized(instance) if instance else None)
        return True

    def _activate(self) -> tuple[Answer, str]:
        lic, instance = self.lic, self._instance()
        answer = self.tally.add(self.product.activate(lic.key, lic.product, instance), "activate")
        if answer.status == 200:
            lic.instances.add(self._normalized(instance))
        return answer, instance

    def _deactivate(self) -> tuple[Answer, str]:
        lic = self.lic
        instance = self.rng.choice(sorted(lic.instances))
        answer = self.tally.add(
            self.product.deactivate(lic.key, lic.product, instance), "deactivate"
        )
        if answer.status == 200:
            lic.instances.discard(instance)
        return answer, instance

    def _lifecycle(self, action: str) -> Answer:
        lic = self.lic
        body: dict[str, Any] = {"action": action}
        if action == "renew":
            body["expires_at"] = future(self.rng.randint(30, 900)).isoformat()
        elif action == "set_seats":
            low = max(1, len(lic.instances))
            body["max_seats"] = None if self.rng.random() < 0.2 else self.rng.randint(low, low + 4)
        answer = self.tally.add(self.brand.lifecycle(lic.license_id, body), action)
        if answer.status != 200:
            return answer
        if action == "renew":
            lic.expires_at = parse_time(body["expires_at"])
        elif action == "set_seats":
            lic.max_seats = body["max_seats"]
        elif action in ("suspend", "resume"):
            lic.status = "suspended" if action == "suspend" else "valid"
        return answer

    def verify(self, instance: str | None) -> None:
        lic = self.lic
        use_instance = instance is not None and self.rng.random() < 0.5
        answer = self.tally.add(
            self.reader.check(
                lic.key,
                product=lic.product if self.rng.random() < 0.5 else None,
                instance=instance if use_instance else None,
                post=self.rng.random() < 0.5,
            ),
            "check",
        )
        why = mismatch(answer, lic, instance if use_instance else None)
        if why is None:
            return
        at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        self.stale.append(f"{self.name} round {self.rounds} at {at}: {why}")
        self.after_stale()

    def after_stale(self) -> None:
        """A stale check was seen: is it still stale half a second later?"""
        time.sleep(0.5)
        again = self.tally.add(self.reader.check(self.lic.key, product=self.lic.product), "check")
        if mismatch(again, self.lic) is not None:
            self.stale_persistent += 1


class Hammer(threading.Thread):
    """Background checks on a set of keys until stopped; answers counted, not verified."""

    def __init__(self, api: Api, keys: list[str], tally: Tally, stop: threading.Event):
        super().__init__(daemon=True)
        self.api, self.keys, self.tally, self.stop_event = api, keys, tally, stop
        self.rng = random.Random(id(self))

    def run(self) -> None:
        while not self.stop_event.is_set():
            key = self.rng.choice(self.keys)
            self.tally.add(self.api.check(key, post=self.rng.random() < 0.5), "hammer")


class Timeline:
    """Marks phases and buckets successful answers per phase."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def rate(self, tally: Tally, start: str, end: str, trim: float = 0.0) -> float:
        lo, hi = self.marks[start] + trim, self.marks[end]
        if hi <= lo:
            return 0.0
        with tally.lock:
            n = sum(1 for t, _, ok in tally.events if ok and lo <= t < hi)
        return n / (hi - lo)

    def bucket_rates(
        self, tally: Tally, start: str, end: str, width: float, trim: float = 0.0
    ) -> list[float]:
        """Successful answers per second in each whole ``width``-second bucket of a phase."""
        lo, hi = self.marks[start] + trim, self.marks[end]
        buckets = int((hi - lo) // width) if hi > lo else 0
        counts = [0] * buckets
        with tally.lock:
            for t, _, ok in tally.events:
                if ok and lo <= t < lo + buckets * width:
                    counts[min(buckets - 1, int((t - lo) // width))] += 1
        return [n / width for n in counts]


class StaticReader(threading.Thread):
    """Checks keys whose state never changes; any other answer is wrong."""

    def __init__(self, api: Api, lics: list[Lic], tally: Tally, stop: threading.Event):
        super().__init__(daemon=True)
        self.api, self.lics, self.tally, self.stop_event = api, lics, tally, stop
        self.rng = random.Random(id(self))
        self.wrong: list[str] = []
        self.answers = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            lic = self.rng.choice(self.lics)
            answer = self.tally.add(self.api.check(lic.key, post=self.rng.random() < 0.5), "read")
            self.answers += 1
            why = mismatch(answer, lic)
            if why is not None and answer.status > 0:
                self.wrong.append(f"{lic.key[:10]}…: {why}")
