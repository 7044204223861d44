"""``create-admin``'s password: a hidden, confirmed prompt at a terminal, else one line of stdin."""

from __future__ import annotations

import io
from typing import Any

import click
import pytest

from app.interfaces.cli import read_password


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_prompted_for_hidden_and_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, Any] = {}

    def prompt(text: str, **options: Any) -> str:
        asked.update(options, text=text)
        return "typed at the prompt"

    monkeypatch.setattr("sys.stdin", Terminal("never read\n"))
    monkeypatch.setattr(click, "prompt", prompt)

    assert read_password() == "typed at the prompt"
    assert asked == {"text": "Password", "hide_input": True, "confirmation_prompt": True}


@pytest.mark.parametrize(
    ("stdin", "password"),
    [
        ("secret words\n", "secret words"),
        ("secret words\r\n", "secret words"),
        ("  spaces kept  \n", "  spaces kept  "),
        ("no newline", "no newline"),
        ("first line\nsecond line\n", "first line"),
    ],
)
def test_otherwise_it_is_the_first_line_of_stdin(monkeypatch: pytest.MonkeyPatch, stdin: str, password: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))

    assert read_password() == password


def test_an_empty_stdin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(click.ClickException, match="expected on standard input"):
        read_password()
