"""``euro.results``: the EuroMillions numbers and stars of a draw date."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

import asyncml
from asyncml.dates import format_draw_date
from asyncml.models.euro import check_draw_date, parse_results_page
from asyncml.schemas import DrawDate

PAGE_MAX_BYTES = 4 * 1024 * 1024


class DrawDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draw_date: DrawDate

    def day(self) -> dt.date:
        value = self.draw_date
        assert isinstance(value, dt.date)
        return value


class DrawNumbers(BaseModel):
    draw_date: str
    numbers: list[int] = Field(min_length=5, max_length=5)
    stars: list[int] = Field(min_length=2, max_length=2)


@asyncml.task("euro.results", queue="euro")
class EuroResultsTask:
    """EuroMillions numbers and stars of a draw date."""

    base_url: str

    def setup(self) -> None:
        from asyncml.settings import Settings

        self.base_url = Settings().euro_base_url

    def run(self, input: DrawDay, ctx: asyncml.Context) -> DrawNumbers:
        day = input.day()
        check_draw_date(day, today=dt.datetime.now(dt.UTC).date())
        if (cached := ctx.cache.get(day.isoformat())) is not None:
            return DrawNumbers.model_validate(cached)
        page = ctx.fetch(self.base_url + format_draw_date(day), max_bytes=PAGE_MAX_BYTES)
        output = DrawNumbers.model_validate(parse_results_page(page, day).as_dict())
        # A draw's numbers never change: keep them as long as the store keeps anything.
        ctx.cache.set(day.isoformat(), output.model_dump(mode="json"))
        return output
