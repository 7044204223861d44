"""Print the figures tests recorded (``record_property``) from a pytest ``--junitxml`` report.

``just reliability`` runs the reliability suite with ``--junitxml`` and then this, so the
figures quoted in docs/reliability.md can be read off any run:
``python -m tests.support.figures REPORT.xml``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree


def recorded(report: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each test that recorded figures, by node id, with its figures in the order recorded."""
    tests = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):  # noqa: S314 - pytest's own report, not untrusted input
        figures = [(prop.get("name", ""), prop.get("value", "")) for prop in case.iter("property")]
        if figures:
            module = case.get("classname", "").replace(".", "/")  # not ``file``: a plugin's test names its own
            node = f"{module}.py::{case.get('name')}"
            tests.append((node, figures))
    return tests


def main() -> None:
    for node, figures in recorded(Path(sys.argv[1])):
        print(node)
        for name, value in figures:
            print(f"    {name}: {value}")


if __name__ == "__main__":
    main()
