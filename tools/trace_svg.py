"""Draw one trace as an SVG waterfall: a row per span, indented under its parent, placed on a time axis.

The spans come from a JSON file of the form tests/e2e/test_tracing.py writes for the sign-up
it traces (``.reports/trace-signup.json``: a list of ``{span_id, parent_id, name, kind,
start_ns, end_ns, attributes}``), which is how docs/trace-signup.svg is made:

``python -m tools.trace_svg .reports/trace-signup.json docs/trace-signup.svg``

Spans are ordered depth first, children by start time, as trace viewers show them. A span
whose parent is not in the file (the caller's, for a trace continued from a ``traceparent``)
is drawn as a root.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROW_HEIGHT = 22
LABEL_WIDTH = 430
BAR_WIDTH = 620
INDENT = 14
MARGIN = 12
HEADER = 34
#: Bar colours by span kind (server, client, producer, consumer, internal).
COLOURS = {
    "server": "#4c78a8",
    "client": "#72b7b2",
    "producer": "#f58518",
    "consumer": "#e45756",
    "internal": "#54a24b",
}


@dataclass(frozen=True, slots=True)
class Span:
    span_id: str
    parent_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int


def load(path: Path) -> list[Span]:
    """The spans, each named with what tells it from its siblings (a statement's table, a publication's destination)."""
    fields = set(Span.__slots__) - {"name"}
    return [
        Span(name=_label(raw["name"], raw.get("attributes", {})), **{name: raw[name] for name in fields})
        for raw in json.loads(path.read_text())
    ]


def _label(name: str, attributes: dict[str, object]) -> str:
    if isinstance(statement := attributes.get("db.statement"), str):
        return " ".join(statement.split()[:3]).rstrip(",")  # INSERT INTO users, SELECT users.id …
    if isinstance(destination := attributes.get("messaging.destination.name"), str):
        return f"{name} → {destination}"
    return name


def depth_first(spans: Sequence[Span]) -> Iterator[tuple[int, Span]]:
    """Each span with its depth, parents before children, siblings by start time."""
    known = {span.span_id for span in spans}
    children: dict[str, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in known else "", []).append(span)

    def walk(parent: str, depth: int) -> Iterator[tuple[int, Span]]:
        for span in sorted(children.get(parent, []), key=lambda s: (s.start_ns, s.span_id)):
            yield depth, span
            yield from walk(span.span_id, depth + 1)

    return walk("", 0)


def render(spans: Sequence[Span], title: str) -> str:
    rows = list(depth_first(spans))
    start = min(span.start_ns for span in spans)
    total = max(max(span.end_ns for span in spans) - start, 1)
    width = LABEL_WIDTH + BAR_WIDTH + 2 * MARGIN
    height = HEADER + ROW_HEIGHT * len(rows) + MARGIN
    scale = BAR_WIDTH / total
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{width - MARGIN}" y="20" text-anchor="end" fill="#555">{total / 1e6:.1f} ms</text>',
    ]
    for row, (depth, span) in enumerate(rows):
        y = HEADER + row * ROW_HEIGHT
        x = MARGIN + LABEL_WIDTH + (span.start_ns - start) * scale
        bar = max((span.end_ns - span.start_ns) * scale, 1.5)
        colour = COLOURS.get(span.kind, "#888888")
        duration = (span.end_ns - span.start_ns) / 1e6
        # The duration after the bar, or before it when the bar reaches the right edge.
        label_x, anchor = (x + bar + 4, "start") if x + bar + 60 < width else (x - 4, "end")
        if row % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_HEIGHT}" fill="#f4f4f4"/>')
        parts += [
            f'<text x="{MARGIN + depth * INDENT}" y="{y + 15}">{escape(_shortened(span.name, depth))}</text>',
            f'<rect x="{x:.1f}" y="{y + 4}" width="{bar:.1f}" height="{ROW_HEIGHT - 8}" fill="{colour}" rx="2">'
            f"<title>{escape(span.name)} ({span.kind}): {duration:.2f} ms</title></rect>",
            f'<text x="{label_x:.1f}" y="{y + 15}" fill="#555" font-size="10" text-anchor="{anchor}">'
            f"{duration:.1f} ms</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _shortened(name: str, depth: int) -> str:
    room = (LABEL_WIDTH - depth * INDENT) // 7
    return name if len(name) <= room else name[: room - 1] + "…"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spans", type=Path, help="the trace's spans (JSON)")
    parser.add_argument("svg", type=Path, help="where to write the waterfall")
    parser.add_argument("--title", default="One sign-up, traced end to end")
    arguments = parser.parse_args(argv)
    arguments.svg.write_text(render(load(arguments.spans), arguments.title))


if __name__ == "__main__":
    main()
