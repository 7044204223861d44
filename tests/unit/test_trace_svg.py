"""tools/trace_svg.py: a trace drawn as a waterfall, parents above their children, on one time axis."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tools.trace_svg import Span, depth_first, main

SVG = "{http://www.w3.org/2000/svg}"


def span(ids: tuple[str, str], name: str, start: int, end: int, kind: str = "internal") -> Span:
    """A span of ``(its id, its parent's)``."""
    return Span(span_id=ids[0], parent_id=ids[1], name=name, kind=kind, start_ns=start, end_ns=end)


TRACE = [
    span(("c", "a"), "second child", 30, 40),
    span(("a", "caller"), "POST /api/v1/auth/sign-up", 0, 100, "server"),
    span(("b", "a"), "first child", 10, 20),
    span(("d", "b"), "grandchild", 12, 18),
]


def test_spans_are_listed_depth_first_with_siblings_by_start() -> None:
    assert [(depth, s.name) for depth, s in depth_first(TRACE)] == [
        (0, "POST /api/v1/auth/sign-up"),  # its parent (the caller's span) is not in the trace: a root
        (1, "first child"),
        (2, "grandchild"),
        (1, "second child"),
    ]


def test_the_svg_has_a_bar_per_span_placed_on_the_time_axis(tmp_path: Path) -> None:
    spans_file, svg_file = tmp_path / "spans.json", tmp_path / "trace.svg"
    spans_file.write_text(json.dumps([_as_dict(s) for s in TRACE]))

    main([str(spans_file), str(svg_file), "--title", "A & B"])

    root = ET.fromstring(svg_file.read_text())  # noqa: S314 - our own output: well-formed, the title's & escaped
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    titles = [bar.findtext(f"{SVG}title") or "" for bar in bars]
    assert [title.split(" (")[0] for title in titles] == [
        "POST /api/v1/auth/sign-up",
        "first child",
        "grandchild",
        "second child",
    ]
    xs = [float(bar.attrib["x"]) for bar in bars]
    assert xs[0] < xs[1] < xs[2] < xs[3]  # start times 0, 10, 12, 30
    widths = [float(bar.attrib["width"]) for bar in bars]
    assert widths[0] == max(widths)  # the whole trace's span is the longest bar


def _as_dict(s: Span) -> dict[str, object]:
    return {name: getattr(s, name) for name in Span.__slots__}
