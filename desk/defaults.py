"""What a new desk starts with: the groups and routing rules of the intent taxonomy, and SLA targets."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import routing, sla
from desk.domain import Priority
from desk.models import Group, SlaPolicy
from desk.people import add_group
from desk.taxonomy import Taxonomy, packaged_taxonomy

# priority -> (first response, resolution) in business minutes, around the clock
SLA_POLICIES: dict[Priority, tuple[int, int, bool]] = {
    Priority.P1: (15, 4 * 60, True),
    Priority.P2: (60, 8 * 60, False),
    Priority.P3: (4 * 60, 24 * 60, False),
    Priority.P4: (8 * 60, 40 * 60, False),
}


def ensure_defaults(*, session: Session, timezone: str = "UTC", working_hours: str = "mon-fri 09:00-17:00",
                    taxonomy: Taxonomy | None = None) -> list[str]:
    """Seed an empty desk from the taxonomy (default: the packaged one); a desk that has groups or SLA policies
    is left as its admins made it."""
    taxonomy = taxonomy or packaged_taxonomy()
    done = []
    if not session.scalar(select(func.count()).select_from(Group)):
        for name in taxonomy.groups:
            add_group(session=session, name=name, timezone=timezone, working_hours=working_hours)
        routed = taxonomy.routed()
        for spec in routed:
            assert spec.group is not None and spec.ticket_type is not None and spec.urgency is not None
            routing.set_rule(session=session, intent=spec.intent, group=spec.group, ticket_type=spec.ticket_type,
                             urgency=spec.urgency)
        done.append(f"{len(taxonomy.groups)} groups and {len(routed)} routing rules")
    if not session.scalar(select(func.count()).select_from(SlaPolicy)):
        for priority, (first, resolution, around) in SLA_POLICIES.items():
            sla.set_policy(
                session=session, priority=priority, first_response_minutes=first,
                resolution_minutes=resolution, around_the_clock=around,
            )
        done.append(f"{len(SLA_POLICIES)} SLA policies")
    return done
