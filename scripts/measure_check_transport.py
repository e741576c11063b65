"""Micro-benchmark of the check's Redis transport (issue 13, step 2).

Times, on this machine's Redis (REDIS_URL, default redis://127.0.0.1:6379/3):

(a) one count-and-read round trip (the check's hot Redis call: 3 windows, 1 read, 2 stamps)
    - "hand": the old transport: RESP packed by hand, sent on a connection of our own
      outside the pool, EVALSHA read back with ``read_response``;
    - "script": redis-py's public API: ``Redis.register_script`` called on the pooled
      client (``Script`` retries NOSCRIPT itself);
    - "pipeline": the same EVALSHA through ``pipeline(transaction=False)``;
(b) the near cache's per-request poll of its channel when nothing is waiting:
    - "os poll": ``select.poll`` on the socket's fd (needs the private ``conn._sock``);
    - "can_read": the public ``Connection.can_read(timeout=0)``.

Usage: .venv/bin/python scripts/measure_check_transport.py [rounds]
"""

from __future__ import annotations

import os
import select
import statistics
import sys
import time
from collections.abc import Callable

import redis

from license_service.redis.scripts import COUNT_AND_READ

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")


def resp_pack(commands: list[list[bytes]]) -> bytes:
    return b"".join(
        b"*%d\r\n" % len(command)
        + b"".join(b"$%d\r\n%b\r\n" % (len(part), part) for part in command)
        for command in commands
    )


def timed(label: str, call: Callable[[], object], rounds: int) -> float:
    for _ in range(min(rounds, 2000)):  # warm up
        call()
    runs = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(rounds):
            call()
        runs.append((time.perf_counter_ns() - start) / rounds / 1000)
    best, median = min(runs), statistics.median(runs)
    print(f"{label:<40} best {best:7.2f} µs   median {median:7.2f} µs")
    return median


def poll_figures(pool: redis.ConnectionPool, rounds: int) -> dict[str, float]:
    """(b) The near cache's poll with nothing waiting: the private socket against the
    public ``Connection.can_read``."""
    print("(b) the near cache's poll, nothing waiting")
    channel = pool.connection_class(**pool.connection_kwargs)
    channel.connect()
    fd = channel._sock.fileno()  # noqa: SLF001 (the private path measured against the public one)

    def os_poll() -> bool:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))

    def can_read() -> bool:
        readable: bool = channel.can_read(timeout=0)
        return readable

    figures = {
        "os_poll": timed("select.poll on the fd (private _sock)", os_poll, rounds * 5),
        "can_read": timed("Connection.can_read(timeout=0)", can_read, rounds * 5),
    }
    channel.disconnect()
    return figures


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    client = redis.Redis.from_url(URL)
    keys = [b"ls:measure:w1", b"ls:measure:w2", b"ls:measure:w3", b"ls:measure:entry"]
    keys += [b"ls:measure:gen", b"ls:measure:epoch"]
    args = [b"3", b"1", b"61", b"1000000000", b"1", b"601", b"100000", b"0"]
    args += [b"61", b"1000000000", b"1", b"7", b"360", b"0", b"7", b"0", b"0"]
    client.delete(*keys)
    script = client.register_script(COUNT_AND_READ)
    script(keys=keys, args=args)  # loaded
    sha = script.sha.encode()

    pool = client.connection_pool
    own = pool.connection_class(**pool.connection_kwargs)
    own.connect()
    packed = resp_pack([[b"EVALSHA", sha, b"%d" % len(keys), *keys, *args]])

    def hand() -> object:
        own.send_packed_command([resp_pack([[b"EVALSHA", sha, b"6", *keys, *args]])], False)
        return own.read_response()

    def hand_prepacked() -> object:
        own.send_packed_command([packed], False)
        return own.read_response()

    def via_script() -> object:
        return script(keys=keys, args=args, client=client)

    def via_pipeline() -> object:
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        return pipe.execute()

    def pooled() -> object:
        # Public Connection methods on a connection lent by the pool: pack_commands,
        # send_packed_command, read_response.
        conn = pool.get_connection()
        try:
            conn.send_packed_command(  # type: ignore[no-untyped-call]  # unannotated upstream
                conn.pack_commands(  # type: ignore[no-untyped-call]  # unannotated upstream
                    [[b"EVALSHA", sha, b"6", *keys, *args]]
                ),
                False,
            )
            return conn.read_response()  # type: ignore[no-untyped-call]  # unannotated upstream
        finally:
            pool.release(conn)

    def pooled_resp() -> object:
        conn = pool.get_connection()
        try:
            packed_call = [resp_pack([[b"EVALSHA", sha, b"6", *keys, *args]])]
            conn.send_packed_command(packed_call, False)  # type: ignore[no-untyped-call]  # unannotated upstream
            return conn.read_response()  # type: ignore[no-untyped-call]  # unannotated upstream
        finally:
            pool.release(conn)

    print(f"redis-py {redis.__version__}, {rounds} rounds x 5, {URL}")
    print("(a) count-and-read round trip")
    figures = {
        "hand": timed("hand-packed EVALSHA, own connection", hand, rounds),
        "hand_prepacked": timed("  (same, packed once)", hand_prepacked, rounds),
        "script": timed("register_script on the pooled client", via_script, rounds),
        "pipeline": timed("pipeline(transaction=False).evalsha", via_pipeline, rounds),
        "pooled": timed("pool connection, pack_commands", pooled, rounds),
        "pooled_resp": timed("pool connection, hand-packed", pooled_resp, rounds),
    }

    figures.update(poll_figures(pool, rounds))
    client.delete(*keys)
    own.disconnect()
    print(
        f"script - hand: {figures['script'] - figures['hand']:+.2f} µs; "
        f"pooled - hand: {figures['pooled'] - figures['hand']:+.2f} µs; "
        f"can_read - poll: {figures['can_read'] - figures['os_poll']:+.2f} µs"
    )


if __name__ == "__main__":
    main()
