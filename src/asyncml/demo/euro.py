"""Made-up EuroMillions results for the demo, in the real site's page shape."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from asyncml.models.euro import DrawResult, is_draw_day, render_results_page

NOTICE = "asyncml demo data: made-up numbers, not real EuroMillions results."


def last_days(today: dt.date, count: int = 15) -> list[dt.date]:
    """``count`` days up to and including ``today``, oldest first (as the original asked)."""
    return [today - dt.timedelta(days=back) for back in range(count - 1, -1, -1)]


def made_up_draw(day: dt.date) -> DrawResult:
    """Numbers that look like a draw, the same for a date on every run."""
    rng = random.Random(day.toordinal())
    numbers = tuple(sorted(rng.sample(range(1, 51), 5)))
    stars = tuple(sorted(rng.sample(range(1, 13), 2)))
    return DrawResult(draw_date=day, numbers=numbers, stars=stars)


def write_pages(directory: Path, days: list[dt.date]) -> dict[dt.date, DrawResult]:
    """A results page for every draw day among ``days``; days without a draw get none."""
    directory.mkdir(parents=True, exist_ok=True)
    draws = {day: made_up_draw(day) for day in days if is_draw_day(day)}
    for day, draw in draws.items():
        page = render_results_page(draw).replace(
            "<body>\n", f'<body>\n<p class="demo-notice"><strong>{NOTICE}</strong></p>\n', 1
        )
        (directory / f"{day:%d-%m-%Y}.html").write_text(page, encoding="utf-8")
    return draws
