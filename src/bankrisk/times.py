"""Times given on a command line."""

from __future__ import annotations

from datetime import UTC, datetime

from bankrisk.errors import UsageError


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (a naive one is taken as UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"{option}: {value!r} is not an ISO 8601 time (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
