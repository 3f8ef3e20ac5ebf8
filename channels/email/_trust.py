"""Whose mail this is: when a mail's ``From`` counts as a verified address (DESIGN.md, "Who is who").

A ``From`` header proves nothing: anyone can write any address into it. A mail is taken as coming
from its ``From`` address only when (a) it came through the company's mail server (an authenticated
SMTP session, or a configured trusted relay address) and (b) that server's ``Authentication-Results``
header (RFC 8601), the topmost one, written under a configured ``authserv-id``, says DMARC (or, as
configured, SPF or DKIM aligned with the ``From`` domain) passed, and (c) the ``From`` domain is one
of the company's. Mail with two ``From`` addresses, or a ``Sender`` that is not the ``From``, is never
verified. Everything else is an unverified identity: it is answered, it never links to anyone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

METHODS = ("dmarc", "spf", "dkim")
# Exchange Online writes its Authentication-Results without an authserv-id; this entry in the trusted
# list stands for such a header.
NO_AUTHSERV_ID = "-"
_MAX_HEADER = 8_000  # an Authentication-Results header longer than this is not one an MTA wrote


@dataclass(frozen=True)
class Verdict:
    verified: bool
    reason: str


@dataclass(frozen=True)
class AuthResults:
    """One Authentication-Results header: who wrote it and what each method found."""

    authserv_id: str
    results: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = ()  # (method, result, properties)

    def method(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [(result, dict(props)) for method, result, props in self.results if method == name]


def _without_comments(value: str) -> str:
    """RFC 5322 comments (nested parentheses) removed, in one linear pass; quoted strings kept."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def parse_authentication_results(value: str) -> AuthResults | None:
    """The header's authserv-id and results, or None when it cannot be read."""
    if len(value) > _MAX_HEADER:
        return None
    parts = [p.strip() for p in _without_comments(value).split(";")]
    first = parts[0].split()
    if first and "=" not in first[0]:
        authserv_id, resinfos = first[0].lower(), parts[1:]
    else:  # no authserv-id: the first part is already a result (Exchange Online)
        authserv_id, resinfos = NO_AUTHSERV_ID, parts
    results = []
    for resinfo in resinfos:
        tokens = resinfo.split()
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or noise
        method, _, result = tokens[0].partition("=")
        props = []
        for token in tokens[1:]:
            name, sep, prop = token.partition("=")
            if sep and "." in name:
                props.append((name.lower(), prop.strip('"').lower()))
        results.append((method.split("/")[0].lower(), result.lower(), tuple(props)))
    return AuthResults(authserv_id, tuple(results))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489): the same domain, or one a subdomain of the other."""
    domain = domain.lstrip("@").rpartition("@")[2].lower().rstrip(".")
    return bool(domain) and (domain == from_domain or domain.endswith("." + from_domain)
                             or from_domain.endswith("." + domain))


@dataclass(frozen=True)
class SenderVerification:
    """The company's rule for trusting a mail's ``From`` (settings: ``DESKBOT_EMAIL_VERIFICATION`` and friends)."""

    authserv_ids: frozenset[str]
    company_domains: frozenset[str]
    methods: frozenset[str] = frozenset({"dmarc"})  # any one of these passing, aligned with From, will do

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"verification methods must be among {', '.join(METHODS)} (got {sorted(self.methods)})")
        if not self.authserv_ids:
            raise ValueError("sender verification needs the authserv-id of the company's mail server")
        if not self.company_domains:
            raise ValueError("sender verification needs the company's mail domains")

    def verdict(self, message: EmailMessage, *, through_company_mta: bool) -> Verdict:
        """``through_company_mta``: the SMTP session was authenticated or came from a trusted relay."""
        if not through_company_mta:
            return Verdict(False, "not handed over by the company's mail server (no SMTP AUTH, not a trusted relay)")
        try:
            values = {name: [str(v) for v in message.get_all(name, [])]
                      for name in ("From", "Sender", "Authentication-Results")}
        except Exception:  # noqa: BLE001 - a header the email package cannot read proves nothing
            return Verdict(False, "unreadable From, Sender or Authentication-Results header")
        if any(len(v) > _MAX_HEADER for vs in values.values() for v in vs):
            return Verdict(False, "a From, Sender or Authentication-Results header too long to be a real one")
        senders = [a for _, a in getaddresses(values["From"]) if a]
        sender_header = [a for _, a in getaddresses(values["Sender"]) if a]
        headers = values["Authentication-Results"]
        if len(senders) != 1:
            return Verdict(False, f"{len(senders)} From addresses")
        address = senders[0].lower()
        if len(sender_header) > 1 or (sender_header and sender_header[0].lower() != address):
            return Verdict(False, "a Sender header that is not the From address")
        from_domain = _domain(address)
        if from_domain not in self.company_domains:
            return Verdict(False, f"{from_domain} is not a company domain")
        if not headers:
            return Verdict(False, "no Authentication-Results header")
        # The topmost header is the one the last server (the company's) added; anything below it came
        # with the mail and may be the sender's own invention.
        results = parse_authentication_results(headers[0])
        if results is None or results.authserv_id not in self.authserv_ids:
            found = results.authserv_id if results else "unreadable"
            return Verdict(False, f"the topmost Authentication-Results is not the company's ({found})")
        for result, _ in results.method("dmarc"):
            if result in ("fail", "quarantine", "reject"):
                return Verdict(False, f"dmarc={result}")
        for method in sorted(self.methods):
            for result, props in results.method(method):
                if result != "pass":
                    continue
                if method == "dmarc" and props.get("header.from", from_domain) == from_domain:
                    return Verdict(True, "dmarc=pass")
                if method == "spf" and _aligned(props.get("smtp.mailfrom", props.get("smtp.helo", "")), from_domain):
                    return Verdict(True, "spf=pass, aligned")
                if method == "dkim" and _aligned(props.get("header.d", props.get("header.i", "")), from_domain):
                    return Verdict(True, "dkim=pass, aligned")
        return Verdict(False, f"no {'/'.join(sorted(self.methods))} pass aligned with {from_domain}")


def trusted_peer(peer: str | None, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
