"""An event committed late is never skipped (SPEC §13), on PostgreSQL with two real
connections: a transaction takes an event id, another takes a later one and commits first,
a reader moves past the later one, then the first commits; the reader still gets it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from events.models import Event
from events.services import event_record
from tests.conftest import make_brand_client, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/brand/events"


def test_an_event_committed_after_a_later_one_is_not_skipped(brand):
    client = make_brand_client(brand)
    took_id = threading.Event()
    may_commit = threading.Event()
    early: list[int] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                early.append(event_record(type_="license.renewed", brand_id=brand.pk, data={}).pk)
                took_id.set()
                assert may_commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert took_id.wait(30)
    with transaction.atomic():  # a second connection: a later id, committed first
        late = event_record(type_="license.suspended", brand_id=brand.pk, data={}).pk
    assert late > early[0]

    first = client.get(URL).json()["results"]
    assert [e["id"] for e in first] == [late]  # the open transaction's event is not there

    may_commit.set()
    thread.join(30)
    second = client.get(URL, {"after": late}).json()["results"]
    assert [e["id"] for e in second] == [early[0]]  # after the cursor, not lost behind it
    assert client.get(URL).json()["results"] == first + second


def test_concurrent_writers_and_readers_see_every_event_once_in_one_order(brand):
    writers, per_writer = 4, 25
    done = threading.Event()

    def write() -> None:
        try:
            for _ in range(per_writer):
                with transaction.atomic():
                    event_record(type_="license.renewed", brand_id=brand.pk, data={})
        finally:
            connection.close()

    seen: list[int] = []

    def read() -> None:
        client = make_brand_client(brand)
        after = None
        try:
            while True:
                finished = done.is_set()
                params = {"limit": 50} if after is None else {"limit": 50, "after": after}
                page = client.get(URL, params).json()["results"]
                seen.extend(e["id"] for e in page)
                if page:
                    after = page[-1]["id"]
                elif finished:
                    return
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write) for _ in range(writers)]
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    reader.join(60)
    assert len(seen) == writers * per_writer
    assert len(set(seen)) == len(seen)
    ordered = list(Event.objects.order_by("position").values_list("id", flat=True))
    assert seen == ordered
