"""Charts of daily figures as SVG markup for the dashboard: stacked bars and lines, with axes and a legend.

Built with ElementTree, so every name and label is escaped as XML text or attribute; styled only by
presentation attributes (``fill=``, ``stroke=``) and classes of ``console.css``, since the console's CSP
refuses ``style=""``. Each bar and point carries its figures as ``data-*`` attributes (what it shows, in
numbers), and its ``<title>`` shows them on hover.
"""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 1200
PLOT_HEIGHT = 240
LEFT, RIGHT, TOP = 64, 16, 12
AXIS_BAND = 44  # below the plot: the days and the axis' title
LEGEND_ROW = 20
CHAR_WIDTH = 7  # about the width of a character of the legend's 12 px text
MAX_DAY_LABELS = 16
MAX_BAR_WIDTH = 56  # a short period's bars stay bars
SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class Bars:
    """One layer of a stacked bar chart: a count per day."""

    name: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True)
class Rate:
    """A line: per day, a numerator over a denominator (no point where the denominator is 0)."""

    name: str
    colour: str
    numerators: Sequence[int]
    denominators: Sequence[int]


def _nice_step(top: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten that covers ``top`` in at most ``ticks`` steps."""
    raw = max(top, 1) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


class _Canvas:
    """The frame every chart shares: the plot area, the axes, the days under it and the legend."""

    def __init__(self, *, title: str, days: Sequence[dt.date], y_label: str, legend: Sequence[tuple[str, str]],
                 kind: str):
        self.days = days
        self.plot_width = WIDTH - LEFT - RIGHT
        self.legend_rows = self._legend_layout(legend)
        height = TOP + PLOT_HEIGHT + AXIS_BAND + LEGEND_ROW * len(self.legend_rows) + 8
        self.svg = ET.Element("svg", {"xmlns": SVG_NS, "viewBox": f"0 0 {WIDTH} {height}", "class": f"chart {kind}",
                                      "role": "img", "aria-label": title})
        ET.SubElement(self.svg, "title").text = title
        self.grid = ET.SubElement(self.svg, "g", {"class": "y-axis"})  # before the plot: drawn under it
        self.plot = ET.SubElement(self.svg, "g", {"class": "plot"})
        self._legend(top=TOP + PLOT_HEIGHT + AXIS_BAND)
        self._x_axis()
        ET.SubElement(self.svg, "text", {"class": "axis-title", "x": "14", "y": str(TOP + PLOT_HEIGHT / 2),
                                         "text-anchor": "middle",
                                         "transform": f"rotate(-90 14 {TOP + PLOT_HEIGHT / 2})"}).text = y_label

    @property
    def slot(self) -> float:
        return self.plot_width / max(len(self.days), 1)

    def x(self, index: int) -> float:
        return LEFT + index * self.slot

    @staticmethod
    def y(value: float, top: float) -> float:
        return TOP + PLOT_HEIGHT - (value / top) * PLOT_HEIGHT if top else TOP + PLOT_HEIGHT

    def y_axis(self, *, top: float, step: float, label: str = "{:g}") -> None:
        for i in range(round(top / step) + 1):
            value = i * step
            y = f"{self.y(value, top):.1f}"
            ET.SubElement(self.grid, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": y, "y2": y,
                                          "class": "grid" if i else "axis", "stroke": "#dde1e7" if i else "#676d78"})
            ET.SubElement(self.grid, "text", {"x": str(LEFT - 6), "y": y, "dy": "4", "text-anchor": "end"}).text = \
                label.format(value)

    def _x_axis(self) -> None:
        axis = ET.SubElement(self.svg, "g", {"class": "x-axis"})
        every = max(1, math.ceil(len(self.days) / MAX_DAY_LABELS))
        years = {d.year for d in self.days}
        for i, day in enumerate(self.days):
            if i % every:
                continue
            text = day.strftime("%d %b") if len(years) == 1 else day.strftime("%d %b %y")
            ET.SubElement(axis, "text", {"x": f"{self.x(i) + self.slot / 2:.1f}", "y": str(TOP + PLOT_HEIGHT + 16),
                                         "text-anchor": "middle"}).text = text
        ET.SubElement(axis, "text", {"class": "axis-title", "x": str(LEFT + self.plot_width / 2),
                                     "y": str(TOP + PLOT_HEIGHT + 36), "text-anchor": "middle"}).text = "day (UTC)"

    @staticmethod
    def _legend_layout(legend: Sequence[tuple[str, str]]) -> list[list[tuple[str, str, float]]]:
        rows: list[list[tuple[str, str, float]]] = [[]]
        x = float(LEFT)
        for name, colour in legend:
            width = 22 + CHAR_WIDTH * len(name) + 18
            if rows[-1] and x + width > WIDTH - RIGHT:
                rows.append([])
                x = float(LEFT)
            rows[-1].append((name, colour, x))
            x += width
        return rows

    def _legend(self, *, top: float) -> None:
        legend = ET.SubElement(self.svg, "g", {"class": "legend"})
        for r, row in enumerate(self.legend_rows):
            y = top + r * LEGEND_ROW
            for name, colour, x in row:
                ET.SubElement(legend, "rect", {"x": f"{x:.0f}", "y": f"{y:.0f}", "width": "14", "height": "14",
                                               "fill": colour})
                ET.SubElement(legend, "text", {"x": f"{x + 20:.0f}", "y": f"{y + 12:.0f}"}).text = name

    def markup(self) -> Markup:
        # ElementTree escapes every text and attribute: the markup is safe to put in the page as it is.
        return Markup(ET.tostring(self.svg, encoding="unicode"))


def stacked_bars(*, title: str, days: Sequence[dt.date], layers: Sequence[Bars], y_label: str) -> Markup:
    """One bar per day, its layers stacked in the given order (the first at the bottom)."""
    canvas = _Canvas(title=title, days=days, y_label=y_label, legend=[(b.name, b.colour) for b in layers],
                     kind="bars")
    totals = [sum(b.values[i] for b in layers) for i in range(len(days))]
    step = max(1.0, _nice_step(max(totals, default=0)))  # whole tickets
    top = step * max(1, math.ceil(max(totals, default=0) / step))
    canvas.y_axis(top=top, step=step)
    width = max(min(canvas.slot - min(canvas.slot * 0.2, 6), MAX_BAR_WIDTH), 0.5)
    for i, day in enumerate(days):
        base = 0
        for layer in layers:
            value = layer.values[i]
            if not value:
                continue
            y_top, y_bottom = canvas.y(base + value, top), canvas.y(base, top)
            bar = ET.SubElement(canvas.plot, "rect", {
                "x": f"{canvas.x(i) + (canvas.slot - width) / 2:.2f}", "y": f"{y_top:.2f}", "width": f"{width:.2f}",
                "height": f"{y_bottom - y_top:.2f}", "fill": layer.colour, "class": "bar",
                "data-day": day.isoformat(), "data-series": layer.name, "data-value": str(value)})
            ET.SubElement(bar, "title").text = f"{day.isoformat()} {layer.name}: {value}"
            base += value
    return canvas.markup()


def rate_lines(*, title: str, days: Sequence[dt.date], rates: Sequence[Rate], y_label: str) -> Markup:
    """One line per rate over the days, in per cent on a 0-100 % axis; a day with no denominator breaks it.
    The first rate is drawn over the others."""
    canvas = _Canvas(title=title, days=days, y_label=y_label, legend=[(r.name, r.colour) for r in rates],
                     kind="lines")
    canvas.y_axis(top=100, step=20, label="{:g} %")
    for rate in reversed(rates):  # the first drawn last: on top where the lines meet
        line = ET.SubElement(canvas.plot, "g", {"class": "rate", "data-series": rate.name})
        path = ET.SubElement(line, "g")  # first, so the points are drawn over the line
        stretch: list[str] = []
        for i, day in enumerate(days):
            n, d = rate.numerators[i], rate.denominators[i]
            if not d:
                _polyline(path, stretch, rate.colour)
                stretch = []
                continue
            cx, cy = f"{canvas.x(i) + canvas.slot / 2:.2f}", f"{canvas.y(100 * n / d, 100):.2f}"
            stretch.append(f"{cx},{cy}")
            point = ET.SubElement(line, "circle", {"cx": cx, "cy": cy, "r": "3", "fill": rate.colour, "class": "point",
                                                   "data-day": day.isoformat(), "data-numerator": str(n),
                                                   "data-denominator": str(d)})
            ET.SubElement(point, "title").text = f"{day.isoformat()} {rate.name}: {100 * n / d:.1f} % ({n}/{d})"
        _polyline(path, stretch, rate.colour)
    return canvas.markup()


def _polyline(parent: ET.Element, points: list[str], colour: str) -> None:
    if len(points) > 1:
        ET.SubElement(parent, "polyline", {"points": " ".join(points), "fill": "none", "stroke": colour,
                                           "stroke-width": "2"})
