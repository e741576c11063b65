"""The staff console's confirmation forms (SPEC §15). They only parse: each admin view hands
the cleaned values to one service, and the service's refusals come back as form errors."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from brands.models import MAX_SEATS, Product
from license_service.errors import DomainError
from licensing.keys import MAX_KEY_INPUT_LENGTH
from licensing.models import MAX_EMAIL_LENGTH

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def end_of_day(day: date) -> datetime:
    """A chosen expiry date as a moment: the last second of that day, in the service's
    time zone (``TIME_ZONE``), so "renew to 31 December" covers all of 31 December."""
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """A service's refusal on the form: field problems under their fields, the rest (and
    the message, when no field is named) at the top."""
    placed = False
    for field, problems in error.details.items():
        if field in form.fields and isinstance(problems, list):
            for problem in problems:
                form.add_error(field, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)


class ConfirmForm(forms.Form):
    """Suspend, resume, cancel: nothing to fill in, only a button to press."""


class RenewForm(forms.Form):
    expires_on = forms.DateField(
        label="New expiry date",
        widget=DATE_WIDGET,
        help_text="The license expires at the end of this day. It must be in the future.",
    )

    def expires_at(self) -> datetime:
        return end_of_day(self.cleaned_data["expires_on"])


class SeatsForm(forms.Form):
    max_seats = forms.IntegerField(
        label="Seats",
        required=False,
        min_value=1,
        max_value=MAX_SEATS,
        help_text="Production sites the license may hold at once. Lowering it below the "
        "seats in use frees none: new activations wait until seats are released.",
    )
    unlimited = forms.BooleanField(label="Unlimited seats", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("unlimited"):
            data["max_seats"] = None
        elif data.get("max_seats") is None and "max_seats" not in self.errors:
            self.add_error("max_seats", "Enter a number of seats, or tick unlimited.")
        return data


class EmailForm(forms.Form):
    customer_email = forms.EmailField(label="Customer e-mail", max_length=MAX_EMAIL_LENGTH)


class ProductChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.brand.name} · {obj.name} ({obj.slug})"


class IssueForm(forms.Form):
    """US1 from the admin: the same fields and key choice as ``POST /brand/licenses``.
    ``token`` makes a double submit of one form issue once (US1's idempotency)."""

    product = ProductChoiceField(
        queryset=Product.objects.select_related("brand").order_by("brand__name", "name")
    )
    customer_email = forms.EmailField(label="Customer e-mail", max_length=MAX_EMAIL_LENGTH)
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=DATE_WIDGET,
        help_text="Empty: a lifetime license. Else it expires at the end of this day.",
    )
    max_seats = forms.IntegerField(
        label="Seats",
        required=False,
        min_value=1,
        max_value=MAX_SEATS,
        help_text="Empty: the product's default.",
    )
    unlimited = forms.BooleanField(label="Unlimited seats", required=False)
    license_key = forms.CharField(
        label="Add to license key",
        required=False,
        max_length=MAX_KEY_INPUT_LENGTH,
        help_text="Optional: an existing key of this customer at this brand.",
    )
    new_key = forms.BooleanField(
        label="On a new key",
        required=False,
        help_text="Else the customer's existing key at this brand, if there is one.",
    )
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("license_key") and data.get("new_key"):
            self.add_error("new_key", "Choose either an existing key or a new key.")
        return data

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        return end_of_day(day) if day else None
