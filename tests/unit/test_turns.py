"""The test processes' turns on the machine: a test marked ``alone`` runs with no other beside it."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.support.turns import turn

#: Long enough for a turn that was wrongly granted to have been taken.
SETTLE_SECONDS = 0.3


class Holder(threading.Thread):
    """Takes a turn, records that it got it, and keeps it until released."""

    def __init__(self, lock_dir: Path, name: str, entered: list[str], *, alone: bool) -> None:
        super().__init__(name=name, daemon=True)
        self.lock_dir, self.entered, self.alone = lock_dir, entered, alone
        self.holding = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        with turn(self.lock_dir, alone=self.alone):
            self.entered.append(self.name)
            self.holding.set()
            self.release.wait(10)


def test_an_alone_turn_waits_for_the_running_tests_and_goes_before_those_after_it(tmp_path: Path) -> None:
    entered: list[str] = []
    first = Holder(tmp_path, "first", entered, alone=False)
    beside = Holder(tmp_path, "beside", entered, alone=False)
    alone = Holder(tmp_path, "alone", entered, alone=True)
    after = Holder(tmp_path, "after", entered, alone=False)

    first.start()
    beside.start()
    assert first.holding.wait(5)
    assert beside.holding.wait(5)  # shared turns run beside each other

    alone.start()
    assert not alone.holding.wait(SETTLE_SECONDS)  # two tests are running
    after.start()
    assert not after.holding.wait(SETTLE_SECONDS)  # queued behind the alone test

    first.release.set()
    assert not alone.holding.wait(SETTLE_SECONDS)  # one test is still running
    beside.release.set()
    assert alone.holding.wait(5)
    assert not after.holding.wait(SETTLE_SECONDS)  # nothing beside the alone test

    alone.release.set()
    assert after.holding.wait(5)
    after.release.set()
    for holder in (first, beside, alone, after):
        holder.join(5)
    assert entered == ["first", "beside", "alone", "after"]
