"""What a new desk starts with: the groups and routing of DESIGN.md's taxonomy, and SLA targets."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import routing, sla
from desk.domain import Level, Priority, TicketType
from desk.models import Group, SlaPolicy
from desk.people import add_group

GROUPS = (
    "Service Desk", "Identity & Access", "Network", "Messaging", "Workplace", "Collaboration",
    "Procurement", "Infrastructure", "Applications", "Telephony", "Security",
)

_REQUEST, _INCIDENT = TicketType.SERVICE_REQUEST, TicketType.INCIDENT
# intent -> (group, ticket type, default urgency)
ROUTING: dict[str, tuple[str, TicketType, Level]] = {
    "password_reset": ("Service Desk", _REQUEST, Level.MEDIUM),
    "account_locked": ("Identity & Access", _REQUEST, Level.MEDIUM),
    "mfa_setup": ("Identity & Access", _REQUEST, Level.MEDIUM),
    "vpn_connection": ("Network", _INCIDENT, Level.MEDIUM),
    "wifi_connection": ("Network", _INCIDENT, Level.MEDIUM),
    "email_on_phone": ("Messaging", _REQUEST, Level.LOW),
    "mailbox_full": ("Messaging", _INCIDENT, Level.MEDIUM),
    "calendar_sharing": ("Messaging", _REQUEST, Level.LOW),
    "printer_problem": ("Workplace", _INCIDENT, Level.LOW),
    "video_call_problem": ("Collaboration", _INCIDENT, Level.MEDIUM),
    "laptop_slow": ("Workplace", _INCIDENT, Level.LOW),
    "monitor_display": ("Workplace", _INCIDENT, Level.LOW),
    "software_install": ("Workplace", _REQUEST, Level.LOW),
    "software_access": ("Identity & Access", _REQUEST, Level.LOW),
    "shared_drive_access": ("Identity & Access", _REQUEST, Level.LOW),
    "new_hardware": ("Procurement", _REQUEST, Level.LOW),
    "new_employee_setup": ("Identity & Access", _REQUEST, Level.MEDIUM),
    "employee_offboarding": ("Identity & Access", _REQUEST, Level.MEDIUM),
    "file_restore": ("Infrastructure", _REQUEST, Level.MEDIUM),
    "computer_wont_start": ("Workplace", _INCIDENT, Level.HIGH),
    "application_down": ("Applications", _INCIDENT, Level.HIGH),
    "website_error": ("Applications", _INCIDENT, Level.MEDIUM),
    "phone_line_problem": ("Telephony", _INCIDENT, Level.MEDIUM),
    "network_outage": ("Network", _INCIDENT, Level.HIGH),
    "phishing_report": ("Security", _INCIDENT, Level.HIGH),
    "malware_infection": ("Security", _INCIDENT, Level.HIGH),
    "lost_device": ("Security", _INCIDENT, Level.HIGH),
    "oos": ("Service Desk", _INCIDENT, Level.LOW),
}

# priority -> (first response, resolution) in business minutes, around the clock
SLA_POLICIES: dict[Priority, tuple[int, int, bool]] = {
    Priority.P1: (15, 4 * 60, True),
    Priority.P2: (60, 8 * 60, False),
    Priority.P3: (4 * 60, 24 * 60, False),
    Priority.P4: (8 * 60, 40 * 60, False),
}


def ensure_defaults(*, session: Session, timezone: str = "UTC", working_hours: str = "mon-fri 09:00-17:00") -> list[str]:
    """Seed an empty desk; a desk that has groups or SLA policies is left as its admins made it."""
    done = []
    if not session.scalar(select(func.count()).select_from(Group)):
        for name in GROUPS:
            add_group(session=session, name=name, timezone=timezone, working_hours=working_hours)
        for intent, (group, ticket_type, urgency) in ROUTING.items():
            routing.set_rule(session=session, intent=intent, group=group, ticket_type=ticket_type, urgency=urgency)
        done.append(f"{len(GROUPS)} groups and {len(ROUTING)} routing rules")
    if not session.scalar(select(func.count()).select_from(SlaPolicy)):
        for priority, (first, resolution, around) in SLA_POLICIES.items():
            sla.set_policy(
                session=session, priority=priority, first_response_minutes=first,
                resolution_minutes=resolution, around_the_clock=around,
            )
        done.append(f"{len(SLA_POLICIES)} SLA policies")
    return done
