"""EuroMillions model code: draw dates and results-page parsing."""

from __future__ import annotations

from datetime import date

import pytest

from asyncml.errors import FutureDateError, NoDrawOnDateError, PageChangedError
from asyncml.models.euro import (
    DrawResult,
    check_draw_date,
    format_draw_date,
    is_draw_day,
    nearest_draws,
    parse_draw_date,
    parse_results_page,
    render_results_page,
)

TODAY = date(2024, 6, 1)
DRAW = date(2024, 1, 5)  # a Friday


@pytest.mark.parametrize("text", ["2024-01-05", "05-01-2024", " 2024-01-05 "])
def test_parse_draw_date_accepts_iso_and_site_format(text: str) -> None:
    assert parse_draw_date(text) == DRAW


@pytest.mark.parametrize(
    "text", ["31-02-2024", "2024/01/01", "", "tomorrow", "2024-1-5", "5-1-2024"]
)
def test_parse_draw_date_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid draw date"):
        parse_draw_date(text)


def test_parse_draw_date_explains_impossible_day() -> None:
    with pytest.raises(ValueError, match="day is out of range"):
        parse_draw_date("2024-02-31")


def test_format_draw_date_is_site_path_segment() -> None:
    assert format_draw_date(date(2004, 2, 13)) == "13-02-2004"
    assert parse_draw_date(format_draw_date(DRAW)) == DRAW


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2004, 2, 13), True),  # the first draw, a Friday
        (date(2004, 2, 10), False),  # a Tuesday before the first draw
        (date(2004, 2, 6), False),  # a Friday before the first draw
        (date(2010, 6, 1), False),  # a Tuesday before Tuesday draws began
        (date(2011, 5, 6), True),  # the last Friday-only week
        (date(2011, 5, 10), True),  # the first Tuesday draw
        (date(2024, 1, 2), True),  # Tuesday
        (date(2024, 1, 5), True),  # Friday
        (date(2024, 1, 3), False),  # Wednesday
        (date(2024, 1, 6), False),  # Saturday
    ],
)
def test_is_draw_day(day: date, expected: bool) -> None:
    assert is_draw_day(day) is expected


def test_nearest_draws() -> None:
    assert nearest_draws(date(2024, 1, 3)) == (date(2024, 1, 2), date(2024, 1, 5))
    assert nearest_draws(date(2024, 1, 5)) == (date(2024, 1, 2), date(2024, 1, 9))
    assert nearest_draws(date(2010, 6, 1)) == (date(2010, 5, 28), date(2010, 6, 4))
    assert nearest_draws(date(2011, 5, 8)) == (date(2011, 5, 6), date(2011, 5, 10))
    assert nearest_draws(date(2004, 2, 13)) == (None, date(2004, 2, 20))
    assert nearest_draws(date(1999, 1, 1)) == (None, date(2004, 2, 13))


@pytest.mark.parametrize("day", [date(2004, 2, 13), date(2011, 5, 10), DRAW, date(2024, 5, 31)])
def test_check_draw_date_accepts_past_draws(day: date) -> None:
    check_draw_date(day, TODAY)


def test_check_draw_date_accepts_todays_draw() -> None:
    check_draw_date(DRAW, today=DRAW)


def test_check_draw_date_rejects_future() -> None:
    with pytest.raises(FutureDateError) as info:
        check_draw_date(date(2024, 6, 4), TODAY)  # a Tuesday after today (a Saturday)
    assert info.value.code == "future_date"
    assert "latest draw was on 2024-05-31" in info.value.message


def test_check_draw_date_names_nearest_draws() -> None:
    with pytest.raises(NoDrawOnDateError) as info:
        check_draw_date(date(2024, 1, 3), TODAY)
    assert info.value.code == "no_draw_on_date"
    assert info.value.message == (
        "no EuroMillions draw on 2024-01-03 (a Wednesday); draws are on Tuesdays and Fridays"
        " — nearest: 2024-01-02 or 2024-01-05"
    )


def test_check_draw_date_before_tuesday_draws() -> None:
    with pytest.raises(NoDrawOnDateError, match="Fridays only until 2011-05-10") as info:
        check_draw_date(date(2010, 6, 1), TODAY)
    assert "nearest: 2010-05-28 or 2010-06-04" in info.value.message


def test_check_draw_date_before_first_draw() -> None:
    with pytest.raises(NoDrawOnDateError, match="first draw was on 2004-02-13"):
        check_draw_date(date(2004, 2, 10), TODAY)


def test_check_draw_date_omits_nearest_draw_in_future() -> None:
    with pytest.raises(NoDrawOnDateError) as info:
        check_draw_date(date(2024, 1, 3), today=date(2024, 1, 3))
    assert info.value.message.endswith("nearest: 2024-01-02")


def test_draw_result_as_dict() -> None:
    result = DrawResult(DRAW, (3, 14, 15, 26, 50), (1, 12))
    assert result.as_dict() == {
        "draw_date": "2024-01-05",
        "numbers": [3, 14, 15, 26, 50],
        "stars": [1, 12],
    }


def test_render_then_parse_round_trips() -> None:
    result = DrawResult(DRAW, (1, 7, 22, 38, 50), (3, 12))
    html = render_results_page(result)
    assert "Friday 05 January 2024" in html
    assert parse_results_page(html, DRAW) == result
    assert parse_results_page(html.encode(), DRAW) == result


def test_parse_hand_written_page_with_noise() -> None:
    html = """
    <html><body>
      <ul><li class="ball">49</li></ul>  <!-- outside #ballsDrawn: ignored -->
      <div class="balls" id="ballsDrawn" data-x="1">
        <ul class="balls">
          <li class="resultBall ball" title="Ball">  44 </li>
          <li class="ball resultBall">
            2
          </li>
          <li data-n="3" class="resultBall ball">17</li>
          <li class="resultBall ball"><span>9</span></li>
          <li class="resultBall ball">30</li>
          <li class="resultBall lucky-star">11</li>
          <li class="resultBall lucky-star">
            4</li>
          <li class="resultBall ball-small">8</li>
        </ul>
      </div>
    </body></html>
    """
    result = parse_results_page(html, DRAW)
    assert result == DrawResult(DRAW, (2, 9, 17, 30, 44), (4, 11))


def _page(numbers: list[str], stars: list[str]) -> str:
    items = [f'<li class="resultBall ball">{n}</li>' for n in numbers]
    items += [f'<li class="resultBall lucky-star">{s}</li>' for s in stars]
    return f'<div id="ballsDrawn"><ul>{"".join(items)}</ul></div>'


GOOD_NUMBERS = ["1", "2", "3", "4", "5"]
GOOD_STARS = ["1", "2"]


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<html><body><p>Results coming soon</p></body></html>", "no #ballsDrawn"),
        ("", "no #ballsDrawn"),
        (_page(GOOD_NUMBERS[:4], GOOD_STARS), "expected 5 numbers in #ballsDrawn, found 4"),
        (_page([*GOOD_NUMBERS, "6"], GOOD_STARS), "expected 5 numbers in #ballsDrawn, found 6"),
        (_page(GOOD_NUMBERS, ["1"]), "expected 2 stars in #ballsDrawn, found 1"),
        (_page(GOOD_NUMBERS, ["1", "2", "3"]), "expected 2 stars in #ballsDrawn, found 3"),
        (_page(["1", "2", "x", "4", "5"], GOOD_STARS), "numbers 'x' is not a whole number"),
        (_page(["1", "2", "", "4", "5"], GOOD_STARS), "numbers '' is not a whole number"),
        (_page(["1", "2", "-3", "4", "5"], GOOD_STARS), "numbers '-3' is not a whole number"),
        (_page(GOOD_NUMBERS, ["1", "2.5"]), "stars '2.5' is not a whole number"),
        (_page(["0", "2", "3", "4", "5"], GOOD_STARS), "numbers 0 is outside 1..50"),
        (_page(["1", "2", "3", "4", "51"], GOOD_STARS), "numbers 51 is outside 1..50"),
        (_page(GOOD_NUMBERS, ["1", "13"]), "stars 13 is outside 1..12"),
        (_page(GOOD_NUMBERS, ["0", "2"]), "stars 0 is outside 1..12"),
        (_page(["1", "2", "3", "4", "4"], GOOD_STARS), "numbers repeat a value"),
        (_page(GOOD_NUMBERS, ["7", "7"]), "stars repeat a value"),
    ],
)
def test_parse_results_page_rejects_changed_page(html: str, problem: str) -> None:
    with pytest.raises(PageChangedError) as info:
        parse_results_page(html, DRAW)
    assert info.value.code == "page_changed"
    assert problem in info.value.message
    assert "2024-01-05" in info.value.message


def test_good_page_helper_parses() -> None:
    # Guards the rejection cases above: they differ from a valid page by one value only.
    assert parse_results_page(_page(GOOD_NUMBERS, GOOD_STARS), DRAW).numbers == (1, 2, 3, 4, 5)
