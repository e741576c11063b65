"""How far ahead a license may expire, and date steps that cannot overflow.

The horizon is one constant: an expiry at most ``EXPIRY_HORIZON_YEARS`` after now is a
date a customer can be sold; one past it is a typo or a probe (9999-12-31), and every later
step on it (the admin's "renew for one year") would leave ``datetime``'s range.
"""

from __future__ import annotations

from datetime import MAXYEAR, UTC, datetime

from license_service.errors import ValidationFailed

EXPIRY_HORIZON_YEARS = 100


def years_after(moment: datetime, years: int) -> datetime:
    """The same date and time ``years`` later (28 February for 29 February).
    Raises OverflowError past year 9999 (``datetime``'s last)."""
    year = moment.year + years
    if year > MAXYEAR:
        raise OverflowError(f"year {year} is out of range")
    try:
        return moment.replace(year=year)
    except ValueError:  # 29 February in a year that has none
        return moment.replace(year=year, day=28)


def latest_expiry(now: datetime) -> datetime:
    """The last expiry allowed at ``now``."""
    try:
        return years_after(now, EXPIRY_HORIZON_YEARS)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def expiry_refused(problem: str) -> ValidationFailed:
    """The validation error naming ``expires_at``; its message reads on its own (the admin
    shows only the message)."""
    return ValidationFailed(
        f"The expiry {problem[0].lower()}{problem[1:]}", details={"expires_at": [problem]}
    )


TOO_FAR = f"Must be at most {EXPIRY_HORIZON_YEARS} years from now."


def check_expiry(expires_at: datetime, now: datetime) -> None:
    """Raises ValidationFailed naming ``expires_at`` unless it is in the future and at
    most ``EXPIRY_HORIZON_YEARS`` from ``now``."""
    if expires_at <= now:
        raise expiry_refused("Must be in the future.")
    if expires_at > latest_expiry(now):
        raise expiry_refused(TOO_FAR)
