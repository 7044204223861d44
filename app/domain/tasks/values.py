"""A task's values: its states, its priorities (in rank order) and the bounds of its text.

Checks raise ``ValidationFailed`` naming the task's field, as the organizations' values
do: a task is built from one request or message, whose field names are the task's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from app.domain.errors import ValidationFailed

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
TAGS_MAX_COUNT = 20
TAG_MAX_LENGTH = 50


class TaskStatus(StrEnum):
    """Where a task stands; sorting by status follows this order."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELED = "canceled"

    @property
    def is_open(self) -> bool:
        """Still to be worked on: what due-date reminders are about."""
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({TaskStatus.TODO, TaskStatus.IN_PROGRESS})


class TaskPriority(StrEnum):
    """Declared from the lowest rank to the highest: sorting by priority sorts by rank."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def check_title(title: str) -> str:
    if not 1 <= len(title) <= TITLE_MAX_LENGTH:
        raise ValidationFailed.single("title", f"Must be 1-{TITLE_MAX_LENGTH} characters")
    return title


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed.single("description", f"At most {DESCRIPTION_MAX_LENGTH} characters")
    return description


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """At most 20 distinct tags of 1-50 characters, in the order given; a repeated tag is refused,
    not silently merged, so that what a client sent is what it reads back."""
    checked = tuple(tags)
    if len(checked) > TAGS_MAX_COUNT:
        raise ValidationFailed.single("tags", f"At most {TAGS_MAX_COUNT} tags")
    if any(not 1 <= len(tag) <= TAG_MAX_LENGTH for tag in checked):
        raise ValidationFailed.single("tags", f"Each tag must be 1-{TAG_MAX_LENGTH} characters")
    if len(set(checked)) != len(checked):
        raise ValidationFailed.single("tags", "Tags must be distinct")
    return checked
