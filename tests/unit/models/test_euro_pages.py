"""The results-page parser on pages written by hand in the real site's shape, independently
of ``render_results_page`` (tests/fixtures/euro/README.md): decoy numbers outside the draw
list, other kinds of item inside it, balls with extra classes, and changed layouts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from asyncml.errors import PageChangedError
from asyncml.models.euro import parse_results_page

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "euro"
DRAW = date(2024, 1, 5)


def page(name: str) -> str:
    return (PAGES / name).read_text()


def test_the_draw_is_read_from_its_list_and_nowhere_else() -> None:
    result = parse_results_page(page("results-page.html"), DRAW)
    # Drawn 27 9 50 14 38 + 10 4; the header's latest draw (11 22 33 44 49 + 1 12), the hot
    # numbers and the description's 1-7 are elsewhere on the page.
    assert result.numbers == (9, 14, 27, 38, 50)
    assert result.stars == (4, 10)
    assert result.draw_date == DRAW


def test_bytes_as_fetched_read_the_same() -> None:
    raw = (PAGES / "results-page.html").read_bytes()
    assert parse_results_page(raw, DRAW) == parse_results_page(page("results-page.html"), DRAW)


@pytest.mark.parametrize("name", ["redesigned-page.html", "renamed-classes-page.html"])
def test_a_changed_layout_is_refused_rather_than_guessed(name: str) -> None:
    with pytest.raises(PageChangedError, match="scraper needs updating"):
        parse_results_page(page(name), DRAW)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        # One drawn ball gone: the ascending list still has five, which must not be used.
        (('<li class="resultBall ball -lg drawn">50</li>', ""), "expected 5 numbers"),
        (('<li class="resultBall lucky-star -lg drawn">4</li>', ""), "expected 2 stars"),
        (('drawn">38<', 'drawn">51<'), "outside 1..50"),
        (('drawn">10<', 'drawn">13<'), "outside 1..12"),
        (('drawn">14<', 'drawn">27<'), "repeat a value"),
        (('drawn">9<', 'drawn">nine<'), "not a whole number"),
    ],
)
def test_a_damaged_draw_list_is_refused(edit: tuple[str, str], problem: str) -> None:
    html = page("results-page.html")
    assert html.count(edit[0]) == 1  # the edit hits the draw list, once
    with pytest.raises(PageChangedError, match=problem):
        parse_results_page(html.replace(*edit), DRAW)
