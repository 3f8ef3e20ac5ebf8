"""The KPI report: each KPI of DESIGN.md as a row with its figure, its usual target and whether it meets it.

``deskbot report kpis`` prints these rows and the console's dashboard shows them, so the two always say the same
thing about a period. The figures are ``desk.kpis``'; this module only words them and holds the targets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from desk.kpis import Kpis, Ratio


class Kpi(enum.StrEnum):
    """The report's rows, in its order; the value is a stable name (the console's ``data-kpi``)."""

    FIRST_CONTACT_RESOLUTION = "first-contact-resolution"
    MTTR_WALL_CLOCK = "mttr-wall-clock"
    MTTR_BUSINESS_HOURS = "mttr-business-hours"
    SLA_COMPLIANCE = "sla-compliance"
    SELF_SERVICE = "self-service"
    POTENTIAL_DEFLECTION = "potential-deflection"
    REOPEN_RATE = "reopen-rate"
    REDIRECTED = "redirected"
    CSAT = "csat"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Kpi.FIRST_CONTACT_RESOLUTION: "first-contact resolution",
    Kpi.MTTR_WALL_CLOCK: "mean time to resolve (wall clock)",
    Kpi.MTTR_BUSINESS_HOURS: "mean time to resolve (business hours)",
    Kpi.SLA_COMPLIANCE: "SLA compliance",
    Kpi.SELF_SERVICE: "self-service rate (confirmed)",
    Kpi.POTENTIAL_DEFLECTION: "potential deflection (unconfirmed)",
    Kpi.REOPEN_RATE: "reopen rate",
    Kpi.REDIRECTED: "redirected to another department (no ticket)",
    Kpi.CSAT: "CSAT",
}


class Standing(enum.StrEnum):
    MET = "met"
    MISSED = "missed"
    UNKNOWN = "unknown"  # no figure yet (n/a), nothing to compare with, or a figure shown apart without a target


@dataclass(frozen=True)
class KpiRow:
    kpi: Kpi
    value: str  # as the report prints it
    target: str  # the usual target, in words
    standing: Standing


SHOWN_APART = "shown apart"
DOWN_OVER_TIME = "down over time"


def _at_least(ratio: Ratio, floor: float) -> Standing:
    return Standing.UNKNOWN if ratio.value is None else Standing.MET if ratio.value >= floor else Standing.MISSED


def _below(ratio: Ratio, ceiling: float) -> Standing:
    return Standing.UNKNOWN if ratio.value is None else Standing.MET if ratio.value < ceiling else Standing.MISSED


def _down(hours: float | None, earlier: float | None) -> Standing:
    """A mean time meets "down over time" when it is no longer than the earlier period's."""
    if hours is None or earlier is None:
        return Standing.UNKNOWN
    return Standing.MET if hours <= earlier else Standing.MISSED


def hours_text(hours: float | None) -> str:
    return "n/a" if hours is None else f"{hours:.1f} h"


def kpi_rows(k: Kpis, *, earlier: Kpis | None = None) -> list[KpiRow]:
    """The report's rows for ``k``; with ``earlier`` (the period just before, as long), the mean times are
    judged against it, else their standing is unknown."""
    before_wall = earlier.mean_time_to_resolve_hours if earlier else None
    before_business = earlier.mean_business_time_to_resolve_hours if earlier else None
    csat = "n/a" if k.csat_average is None else f"{k.csat_average:.2f} / 5"
    return [
        KpiRow(Kpi.FIRST_CONTACT_RESOLUTION, str(k.first_contact_resolution), "70-80 %",
               _at_least(k.first_contact_resolution, 0.70)),
        KpiRow(Kpi.MTTR_WALL_CLOCK, hours_text(k.mean_time_to_resolve_hours), DOWN_OVER_TIME,
               _down(k.mean_time_to_resolve_hours, before_wall)),
        KpiRow(Kpi.MTTR_BUSINESS_HOURS, hours_text(k.mean_business_time_to_resolve_hours), DOWN_OVER_TIME,
               _down(k.mean_business_time_to_resolve_hours, before_business)),
        KpiRow(Kpi.SLA_COMPLIANCE, str(k.sla_compliance), ">= 95 %", _at_least(k.sla_compliance, 0.95)),
        KpiRow(Kpi.SELF_SERVICE, str(k.self_service_rate), "30-50 %", _at_least(k.self_service_rate, 0.30)),
        KpiRow(Kpi.POTENTIAL_DEFLECTION, str(k.potential_deflection_rate), SHOWN_APART, Standing.UNKNOWN),
        KpiRow(Kpi.REOPEN_RATE, str(k.reopen_rate), "< 5 %", _below(k.reopen_rate, 0.05)),
        KpiRow(Kpi.REDIRECTED, str(k.redirected), SHOWN_APART, Standing.UNKNOWN),
        KpiRow(Kpi.CSAT, f"{csat}; satisfied {k.csat_satisfied}", ">= 85 %", _at_least(k.csat_satisfied, 0.85)),
    ]
