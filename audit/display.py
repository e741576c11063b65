"""Audit events as staff read them (the admin's audit tables, SPEC §15): what changed, field
by field, and who did it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.models import AuditEvent

MISSING = "—"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return _moment(value) or value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _moment(value: str) -> str | None:
    """An ISO 8601 timestamp as staff read it (``2031-06-30 23:59:59 UTC``), else None."""
    if len(value) < len("2031-06-30T23:59:59") or value[10:11] != "T":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def changed_fields(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[tuple[str, str, str]]:
    """(field, before, after) for each field whose value differs, in the order the event
    lists them; a field only one side has shows ``—`` on the other. Each side a dict or
    None (JSON columns hold nothing else here)."""
    before, after = before or {}, after or {}
    fields = list(dict.fromkeys([*before, *after]))
    return [
        (
            field,
            _shown(before[field]) if field in before else MISSING,
            _shown(after[field]) if field in after else MISSING,
        )
        for field in fields
        if before.get(field, MISSING) != after.get(field, MISSING)
    ]


def changes_table(event: AuditEvent) -> SafeString:
    rows = changed_fields(event.before, event.after)
    if not rows:
        return format_html("<span>{}</span>", "no field changed")
    return format_html(
        '<table class="audit-changes"><thead><tr><th>field</th><th>before</th>'
        "<th></th><th>after</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td aria-label="became">→</td><td>{}</td></tr>',
            rows,
        ),
    )


def actor_label(event: AuditEvent, key_prefix: str | None = None) -> str:
    """``staff: ana``, ``brand: rankmath``, ``product (key RNKM-…-E8RJP)``: a product is
    known by the key it used (``key_prefix``, when the caller knows it), never by a name."""
    if event.actor_type == AuditEvent.ActorType.PRODUCT:
        return f"product (key {key_prefix})" if key_prefix else "product"
    return f"{event.actor_type}: {event.actor}"


def events_table(events: Iterable[AuditEvent], key_prefix: str | None = None) -> SafeString:
    """The audit trail of one object, newest first as given."""
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td><strong>{}</strong></td><td>{}</td><td class="audit-actor">{}</td>'
        '<td class="audit-request">{}<br>{}</td></tr>',
        (
            (
                timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                e.action,
                changes_table(e),
                actor_label(e, key_prefix),
                e.request_id or MISSING,
                e.client_ip or MISSING,
            )
            for e in events
        ),
    )
    if not rows:
        return format_html("<p>{}</p>", "No events.")
    return format_html(
        '<table class="audit-trail"><thead><tr><th>when</th><th>action</th>'
        "<th>what changed</th><th>actor</th><th>request id / IP</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )
