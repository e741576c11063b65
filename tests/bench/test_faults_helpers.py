"""The fault suite's own judgement: what counts as stale, as a 5xx, as a hang."""

from __future__ import annotations

import socket
from dataclasses import fields
from datetime import UTC, datetime

import pytest

from bench.faults import (
    KEYS_USED,
    Answer,
    Lic,
    OutputWatch,
    Plan,
    Result,
    Tally,
    judge_output,
    key_forms,
    leaked_keys,
    mismatch,
    render,
)
from bench.services import LOOPBACK, free_port, port_is_free
from license_service.logging import mask_secrets_in


def _check_answer(**entitlement: object) -> Answer:
    body = {
        "success": True,
        "entitlements": [
            {
                "product_slug": "pro",
                "status": "valid",
                "expires_at": None,
                "max_seats": 3,
                "seats_used": 1,
                "seats_remaining": 2,
                **entitlement,
            }
        ],
    }
    return Answer(200, body, True, 0.01, 0.0)


def _license(**overrides: object) -> Lic:
    lic = Lic(1, "KEY", "pro", max_seats=3, instances={"a.example.com"})
    for name, value in overrides.items():
        setattr(lic, name, value)
    return lic


def test_answer_matching_the_committed_state_is_not_stale():
    assert mismatch(_check_answer(), _license()) is None


def test_old_status_is_stale():
    why = mismatch(_check_answer(status="valid"), _license(status="suspended"))
    assert why is not None
    assert "status" in why


def test_old_seat_count_is_stale():
    why = mismatch(_check_answer(seats_used=2, seats_remaining=1), _license())
    assert why is not None
    assert "seats_used" in why


def test_expiry_is_compared_as_a_time_not_as_text():
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    answer = _check_answer(expires_at="2030-01-02T03:04:05Z")
    assert mismatch(answer, _license(expires_at=expires)) is None


def test_instance_active_is_checked_when_asked():
    answer = _check_answer(instance_active=False)
    why = mismatch(answer, _license(), instance="a.example.com")
    assert why is not None
    assert "instance_active" in why


def test_an_error_answer_is_never_a_fresh_one():
    answer = Answer(503, {"error": "service_unavailable"}, True, 0.01, 0.0)
    assert mismatch(answer, _license()) is not None


def test_tally_counts_a_503_as_5xx_but_not_as_a_server_error():
    tally = Tally()
    tally.add(Answer(503, {"error": "service_unavailable"}, True, 0.01, 0.0))
    tally.add(Answer(500, {"error": "server_error"}, True, 0.01, 0.0))
    assert tally.fivexx() == 2
    assert len(tally.server_errors) == 1


def test_tally_records_timeouts_and_html_pages():
    tally = Tally()
    tally.add(Answer(0, None, False, 10.0, 0.0, failure="ReadTimeout"))
    tally.add(Answer(502, "<html>", False, 0.01, 0.0))
    assert len(tally.hangs) == 1
    assert len(tally.not_json) == 1


def test_quick_plan_does_less_of_everything():
    quick, full = Plan.quick_plan(), Plan.full()
    for f in fields(Plan):
        value = getattr(quick, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value <= getattr(full, f.name), f.name


def test_report_marks_failures():
    passed = Result("1", "Seat race", passed=True, figures={"rounds": 3})
    failed = Result("2", "Stale reads", problems=["2 stale checks"])
    text = render([passed, failed], Plan.quick_plan(), 12.0)
    assert "| 1 | Seat race | PASS |" in text
    assert "| 2 | Stale reads | **FAIL** |" in text
    assert "- 2 stale checks" in text


def test_free_port_skips_a_port_in_use():
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        taken = sock.getsockname()[1]
        assert not port_is_free(taken)
        assert free_port(taken) != taken


# --- license keys in the servers' output ---------------------------------------------------

KEY = "ALPH-NKJ5T-H02DZ-W3XSN-XVP94-9KC21-YZDSR"


@pytest.mark.parametrize("form", key_forms(KEY))
def test_a_key_in_any_form_in_the_server_output_is_found(form):
    line = f'{{"event": "Service Unavailable: /api/v1/product/check/{form}", "x": 1}}'
    assert leaked_keys(f"boot\n{line}\nbye\n", {KEY}) == {"ALPH-NKJ5T…": 1}


def test_a_key_written_with_look_alikes_or_percent_encoded_is_found():
    lookalike = KEY.replace("0", "o").replace("1", "l")
    encoded = "".join(f"%{ord(c):02x}" for c in KEY)
    assert leaked_keys(f"{lookalike}\n{encoded}\n", {KEY}) == {"ALPH-NKJ5T…": 2}


def test_masked_output_and_other_keys_are_not_leaks():
    masked = mask_secrets_in(f"GET /api/v1/product/check/{KEY.replace('-', '')} and {KEY}")
    other = "ALPH-NKJ5T-H02DZ-W3XSN-XVP94-9KC21-YZDSQ"  # one symbol off
    assert leaked_keys(f"{masked}\n{other}\n", {KEY}) == {}


def test_judging_the_output_fails_the_scenario_and_names_only_the_prefix(tmp_path):
    class FakeStack:
        base = tmp_path
        postgres = type("Pg", (), {"log": tmp_path / "pg" / "server.log"})()

    (tmp_path / "gunicorn").mkdir()
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "server.log").write_text(f"DETAIL: Key (key)=({KEY}) exists\n")
    server_log = tmp_path / "gunicorn" / "server.log"
    server_log.write_text("clean line\n")
    watch = OutputWatch(FakeStack())  # type: ignore[arg-type]
    KEYS_USED.note(KEY.lower())

    clean = Result("4", "x", passed=True)
    judge_output(clean, watch)
    assert clean.passed
    with server_log.open("a") as log:
        log.write(f"Invalid request line 'GET /check/{KEY.replace('-', '')}'\npartial {KEY}")
    leaking = Result("4", "x", passed=True)
    judge_output(leaking, watch)
    assert not leaking.passed
    assert leaking.problems == ["1 full license keys in the server output: ALPH-NKJ5T… (1x)"]
    assert KEY not in " ".join(leaking.problems) + str(leaking.figures)
