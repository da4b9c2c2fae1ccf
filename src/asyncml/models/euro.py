"""EuroMillions results: draw-date rules and parsing of euro-millions.com results pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bs4 import BeautifulSoup, Tag

from asyncml.dates import format_draw_date, parse_draw_date
from asyncml.errors import FutureDateError, NoDrawOnDateError, PageChangedError

__all__ = [
    "FIRST_DRAW",
    "TUESDAY_DRAWS_FROM",
    "DrawResult",
    "check_draw_date",
    "format_draw_date",
    "is_draw_day",
    "nearest_draws",
    "parse_draw_date",
    "parse_results_page",
    "render_results_page",
]

FIRST_DRAW = date(2004, 2, 13)  # a Friday
TUESDAY_DRAWS_FROM = date(2011, 5, 10)
_TUESDAY, _FRIDAY = 1, 4
_BALL = re.compile(r"[0-9]{1,2}")


def is_draw_day(d: date) -> bool:
    if d < FIRST_DRAW:
        return False
    return d.weekday() == _FRIDAY or (d.weekday() == _TUESDAY and d >= TUESDAY_DRAWS_FROM)


def _scan(d: date, step: timedelta) -> date | None:
    # There is at least one draw a week, so seven steps always find one past the first draw.
    for _ in range(7):
        try:
            d += step
        except OverflowError:
            return None
        if is_draw_day(d):
            return d
    return None


def nearest_draws(d: date) -> tuple[date | None, date | None]:
    """The draw days strictly before and strictly after ``d`` (``None`` where there is none)."""
    previous = _scan(d, timedelta(days=-1)) if d > FIRST_DRAW else None
    following = FIRST_DRAW if d < FIRST_DRAW else _scan(d, timedelta(days=1))
    return previous, following


def check_draw_date(d: date, today: date) -> None:
    """Raise ``FutureDateError`` or ``NoDrawOnDateError`` unless ``d`` had a draw by ``today``."""
    if d > today:
        latest = today if is_draw_day(today) else nearest_draws(today)[0]
        hint = f"; the latest draw was on {latest.isoformat()}" if latest else ""
        raise FutureDateError(
            f"the {d.isoformat()} draw has not happened yet (today is {today.isoformat()}); "
            f"pick a past draw date{hint}"
        )
    if is_draw_day(d):
        return
    if d < FIRST_DRAW:
        raise NoDrawOnDateError(
            f"no EuroMillions draw on {d.isoformat()}: "
            f"the first draw was on {FIRST_DRAW.isoformat()} (a Friday)"
        )
    rule = (
        "draws are on Tuesdays and Fridays"
        if d >= TUESDAY_DRAWS_FROM
        else f"draws were on Fridays only until {TUESDAY_DRAWS_FROM.isoformat()}"
    )
    candidates = [c.isoformat() for c in nearest_draws(d) if c is not None and c <= today]
    raise NoDrawOnDateError(
        f"no EuroMillions draw on {d.isoformat()} (a {d:%A}); {rule} — "
        f"nearest: {' or '.join(candidates)}"
    )


@dataclass(frozen=True)
class DrawResult:
    draw_date: date
    numbers: tuple[int, ...]
    stars: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "draw_date": self.draw_date.isoformat(),
            "numbers": list(self.numbers),
            "stars": list(self.stars),
        }


def _read_balls(
    drawn: Tag, css_class: str, label: str, count: int, top: int, draw_date: date
) -> tuple[int, ...]:
    def changed(problem: str) -> PageChangedError:
        return PageChangedError(
            f"the results page for {draw_date.isoformat()} no longer has the expected shape "
            f"({problem}); the scraper needs updating"
        )

    texts = [li.get_text(strip=True) for li in drawn.find_all("li", class_=css_class)]
    if len(texts) != count:
        raise changed(f"expected {count} {label} in #ballsDrawn, found {len(texts)}")
    if bad := [t for t in texts if not _BALL.fullmatch(t)]:
        raise changed(f"{label} {bad[0]!r} is not a whole number")
    values = [int(t) for t in texts]
    if bad_values := [v for v in values if not 1 <= v <= top]:
        raise changed(f"{label} {bad_values[0]} is outside 1..{top}")
    if len(set(values)) != count:
        raise changed(f"{label} repeat a value: {values}")
    return tuple(sorted(values))


def parse_results_page(html: str | bytes, draw_date: date) -> DrawResult:
    """Read the 5 numbers and 2 lucky stars from a results page; ``PageChangedError`` if unsure."""
    drawn = BeautifulSoup(html, "html.parser").find(id="ballsDrawn")
    if not isinstance(drawn, Tag):
        raise PageChangedError(
            f"the results page for {draw_date.isoformat()} has no #ballsDrawn element; "
            "the scraper needs updating"
        )
    numbers = _read_balls(drawn, "ball", "numbers", 5, 50, draw_date)
    stars = _read_balls(drawn, "lucky-star", "stars", 2, 12, draw_date)
    return DrawResult(draw_date=draw_date, numbers=numbers, stars=stars)


def render_results_page(result: DrawResult) -> str:
    """A minimal results page in the real site's shape, for tests and a local demo."""
    balls = [f'<li class="resultBall ball">{n}</li>' for n in result.numbers]
    balls += [f'<li class="resultBall lucky-star">{s}</li>' for s in result.stars]
    return (
        "<!DOCTYPE html>\n<html><head><title>EuroMillions Results</title></head><body>\n"
        f"<h1>EuroMillions results for {result.draw_date:%A %d %B %Y}</h1>\n"
        '<div id="ballsDrawn"><ul>\n' + "\n".join(balls) + "\n</ul></div>\n</body></html>\n"
    )
