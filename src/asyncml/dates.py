"""Draw dates as clients write them: ISO ``YYYY-MM-DD`` or the original's ``DD-MM-YYYY``.

Kept apart from the EuroMillions model so the API can validate dates without importing it.
"""

from __future__ import annotations

import re
from datetime import date

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SITE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")


def parse_draw_date(value: str) -> date:
    """Read ``YYYY-MM-DD`` or the site's ``DD-MM-YYYY``; raise ``ValueError`` otherwise."""
    text = value.strip()
    if m := _ISO.fullmatch(text):
        year, month, day = m.groups()
    elif m := _SITE.fullmatch(text):
        day, month, year = m.groups()
    else:
        raise ValueError(f"invalid draw date {value!r}: use YYYY-MM-DD, e.g. 2024-01-05")
    try:
        return date(int(year), int(month), int(day))
    except ValueError as exc:
        raise ValueError(f"invalid draw date {value!r}: {exc}") from None


def format_draw_date(d: date) -> str:
    """The results page's path segment, ``DD-MM-YYYY``."""
    return d.strftime("%d-%m-%Y")
