"""The similarities at which two reports count as one outage, chosen on labelled pairs.

    .venv/bin/python bench/major_pairs.py [FILE.csv]

FILE (default bench/data/major_pairs.csv) has the header ``text_a,text_b,same``: two reports that could be taken
for one outage, ``same`` 1 when they are one, 0 when they are different things. The names the rule reads
(``bot.worker._names``, with the systems file and the KB titles, as the worker reads them) sort the pairs: those
naming one system or one place (whose words must still say the same thing of it, unless both say the system is
out: those are counted apart) choose ``DESKBOT_MAJOR_INCIDENT_NAMED_SIMILARITY``; those naming nothing in common choose
``DESKBOT_MAJOR_INCIDENT_SIMILARITY``; pairs sharing an error code (linked on their own) or naming different
things (never linked) choose nothing. For each group it prints, per threshold, the pairs linked right and wrong,
and the threshold to set: the lowest one whose links are at least 99 % right. Not 95 %: each new report is compared
with every unlinked report of the last half hour, tens to a hundred of them on a busy morning, so a rule wrong on
one pair in twenty opens problems of unrelated reports (on bench/major_incidents.py's day, 0.58, chosen at 95 %,
opened 7 false problems to 2 real ones). The embedder is the one ``deskbot serve`` uses.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "bench" / "data" / "major_pairs.csv"
PRECISION = 0.99
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)


def read_pairs(path: Path) -> list[tuple[str, str, bool]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"text_a", "text_b", "same"} <= set(reader.fieldnames):
            raise SystemExit(f"{path}: the first line must be the header 'text_a,text_b,same'")
        pairs = []
        for row in reader:
            if row["same"] not in ("0", "1") or not row["text_a"].strip() or not row["text_b"].strip():
                raise SystemExit(f"{path}, row ending on line {reader.line_num}: two texts and same 0 or 1")
            pairs.append((row["text_a"], row["text_b"], row["same"] == "1"))
    return pairs


def choose(similarities: list[float], same: list[bool]) -> float:
    """The lowest threshold whose links are at least ``PRECISION`` right (and link at least one pair)."""
    for threshold in sorted(set(similarities)):
        linked = [s for sim, s in zip(similarities, same) if sim >= threshold]
        if linked and sum(linked) / len(linked) >= PRECISION:
            return round(threshold - 0.005, 2) if threshold > 0.005 else 0.0
    raise SystemExit("no threshold links the same-outage pairs without wrong links: add pairs or review them")


def print_group(title: str, setting: str, similarities: list[float], same: list[bool]) -> None:
    print(f"\n{title}: {sum(same)} same-outage pairs, {len(same) - sum(same)} different-thing pairs")
    print(f"{'threshold':>9}  {'same linked':>12}  {'different linked':>16}")
    for t in THRESHOLDS:
        right = sum(s for sim, s in zip(similarities, same) if sim >= t)
        wrong = sum(not s for sim, s in zip(similarities, same) if sim >= t)
        print(f"{t:9.2f}  {right:5d}/{sum(same):<6d}  {wrong:7d}/{len(same) - sum(same):<8d}")
    print(f"chosen: {setting}={choose(similarities, same):.2f} (links at least {PRECISION:.0%} right)")


def main(argv: list[str]) -> None:
    from bot.composition import Deskbot
    from bot.settings import Settings
    from bot.worker._major import Reports
    from desk.systems import packaged_systems

    path = Path(argv[0]) if argv else DEFAULT_FILE
    pairs = read_pairs(path)
    analyzer = Deskbot(Settings()).analyzer
    namer = Reports(packaged_systems()).namer(analyzer)
    a, b = analyzer.embed([p[0] for p in pairs]), analyzer.embed([p[1] for p in pairs])
    groups: dict[str, tuple[list[float], list[bool]]] = {"named": ([], []), "unnamed": ([], [])}
    out: list[bool] = []  # pairs naming one system or place that both say it is out: linked whatever their words
    for (text_a, text_b, same), x, y in zip(pairs, a, b):
        names_a, names_b = namer.names(text_a), namer.names(text_b)
        if names_a.same_code(names_b) or names_a.name_different_things(names_b):
            continue
        if (names_a.same_system(names_b) or names_a.same_place(names_b)) and names_a.both_unavailable(names_b):
            out.append(same)
            continue
        named = names_a.same_system(names_b) or names_a.same_place(names_b)
        similarities, labels = groups["named" if named else "unnamed"]
        similarities.append(float(x @ y))
        labels.append(same)
    print(f"{path}: {len(pairs)} pairs, model {analyzer.model_version}")
    print(f"\npairs naming one system or place that both say it is out (linked at any similarity): {sum(out)} "
          f"same-outage linked, {len(out) - sum(out)} different-thing linked")
    print_group("pairs naming one system or place", "DESKBOT_MAJOR_INCIDENT_NAMED_SIMILARITY", *groups["named"])
    print_group("pairs naming nothing in common", "DESKBOT_MAJOR_INCIDENT_SIMILARITY", *groups["unnamed"])


if __name__ == "__main__":
    main(sys.argv[1:])
