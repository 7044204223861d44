"""The fixed-window arithmetic, without Redis."""

from __future__ import annotations

import pytest

from app.infrastructure.rate_limit import MemoryWindow, Rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [("20/minute", Rate(20, 60)), ("1/second", Rate(1, 1)), ("5/hour", Rate(5, 3600)), ("9/day", Rate(9, 86400))],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


def test_the_window_admits_the_limit_then_refuses_until_it_ends() -> None:
    window, rate = MemoryWindow(), Rate(3, 60)

    verdicts = [window.hit("ip", rate, now=120.0 + i) for i in range(4)]

    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].retry_after == 57  # the window [120, 180) ends 57 s after t=123
    assert window.hit("ip", rate, now=180.0).allowed
    assert window.hit("other", rate, now=123.5).allowed
