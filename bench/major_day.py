"""A simulated day at a 2,000-person company's service desk, for bench/major_incidents.py (seeded: the same seed,
the same day).

Several thousand messages from a few hundred people over nine hours (more in the morning and after lunch):
everyday requests and incidents in many styles (English and French, typos, shouting, mail-like and chat-like),
some of which name the same products any office names all day (Outlook, Teams, SAP, the VPN), and a few real
outages of 10-50 reports each, written by different people in their own words.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

START = dt.datetime(2026, 3, 3, 8, 30, tzinfo=dt.UTC)  # a Tuesday
HOURS = 9


@dataclass(frozen=True)
class Outage:
    name: str
    start: dt.timedelta  # after START
    spread: dt.timedelta  # its reports arrive within this
    reports: int
    texts: tuple[str, ...]  # templates; {x} filled from FILLERS


@dataclass(frozen=True)
class SimMessage:
    at: dt.datetime
    who: str
    text: str
    outage: str | None  # the outage it reports, None for the background


OUTAGES = (
    Outage("VPN gateway in Paris", dt.timedelta(minutes=25), dt.timedelta(minutes=35), 28, (
        "VPN gateway not responding from Paris{x}", "GlobalProtect says the gateway paris-gw is unreachable",
        "cannot connect to the VPN this morning, GlobalProtect keeps spinning on the Paris gateway",
        "vpn down?? globalprotect wont connect{x}", "Global Protect: gateway not responding, I'm in Paris",
        "impossible de me connecter au VPN, GlobalProtect n'arrive pas à joindre la passerelle de Paris",
        "la passerelle VPN de Paris ne répond plus{x}", ("VPN connection fails - GlobalProtect error 'gateway "
        "not responding'"), "is the Paris VPN gateway down? can't get in", "GlobalProtect stuck on connecting{x}",
        "Hi, I can't connect to GlobalProtect since 9, it says the portal does not respond. Thanks",
    )),
    Outage("SAP down", dt.timedelta(hours=1, minutes=40), dt.timedelta(minutes=40), 42, (
        "SAP is down{x}", "SAP not loading for me and my team", "is SAP down? I get a timeout on login",
        "sap wont open, error connecting to the server{x}", "SAP GUI freezes at the logon screen",
        "SAP Fiori gives a blank page", "we cannot post invoices, SAP is not responding",
        "SAP ne répond plus, impossible de saisir les commandes", "SAP est en panne ?{x}",
        "Hello IT, SAP has been unreachable for 10 minutes, the whole finance team is blocked",
        "URGENT: SAP down, month-end closing blocked!!", ("SAP keeps saying 'connection to the message server "
        "failed'"), "cant log in to SAP{x}", "S/4HANA not available?",
    )),
    Outage("printer floor 3 building B", dt.timedelta(hours=4, minutes=50), dt.timedelta(minutes=50), 12, (
        "the printer on floor 3 of building B is not printing", "printer 3rd floor building B jammed{x}",
        "building B, 3rd floor: the big printer shows an error and prints nothing",
        "l'imprimante du 3e étage du bâtiment B ne marche plus", "printer on the third floor (bldg B) offline",
        "nothing comes out of the 3rd floor printer in building B{x}", "B building floor 3 printer is dead",
    )),
    Outage("Outlook 0x800CCC0E", dt.timedelta(hours=6, minutes=30), dt.timedelta(minutes=30), 20, (
        "Outlook cannot send mail, error 0x800CCC0E", "error 0x800CCC0E in Outlook when sending{x}",
        "my outlook says 0x800CCC0E and nothing goes out", "Outlook: Sending reported error (0x800CCC0E)",
        "Impossible d'envoyer des mails dans Outlook, erreur 0x800CCC0E",
        "getting 0x800ccc0e since 3pm, mails stuck in the outbox", "Outlook error 0x800CCC0E{x}",
    )),
    Outage("network down in building C", dt.timedelta(hours=2, minutes=55), dt.timedelta(minutes=20), 9, (
        "no network at all in building C{x}", "the wired network is down in building C",
        "building C has no internet since 11", "plus de réseau dans le bâtiment C", "network dead in bldg C{x}",
    )),
)

# Everyday messages: (weight, templates). {x} takes a filler, {s} a system, {f} a floor, {b} a building.
BACKGROUND = (
    (10, ("I forgot my password{x}", "password expired, how do I reset it", "j'ai oublié mon mot de passe",
          "need to reset my pasword{x}", "my password doesn't work anymore")),
    (6, ("my account is locked{x}", "locked out after too many attempts", "mon compte est bloqué")),
    (5, ("how do I set up MFA on my new phone", "the authenticator push never arrives{x}",
         "new phone, need to move Okta Verify")),
    (6, ("my VPN keeps dropping at home{x}", "VPN is slow when I download files", ("GlobalProtect asks for my "
         "password every hour"), "can't install the VPN client on my new laptop", "le VPN se déconnecte souvent")),
    (6, ("wifi keeps disconnecting on my laptop{x}", "can't join CORP-WIFI with my new laptop",
         "guest wifi password for a visitor please", "le wifi ne marche pas dans la salle {f}")),
    (5, ("how do I get my work email on my iPhone", "Outlook on my phone stopped syncing{x}",
         "mail app on android asks for password all the time")),
    (4, ("my mailbox is full{x}", "cannot send, mailbox over quota", "boîte mail pleine")),
    (4, ("how do I share my calendar with my assistant", "need delegate access to my boss's calendar")),
    (6, ("the printer on the {f} floor is jammed{x}", "my print jobs are stuck in the queue",
         "printer in building {b} says offline", "can't add the printer on my mac", ("l'imprimante du {f} étage "
         "bourre"), "the printer on floor {f} of building {b} prints blank pages")),
    (5, ("Teams camera not working in calls{x}", "no sound in Zoom meetings", ("Teams crashes when I share my "
         "screen"), "my microphone doesn't work in Teams", "Zoom says unstable connection")),
    (5, ("my laptop is so slow{x}", "laptop very slow since the update", "mon pc rame énormément")),
    (4, ("my second monitor is not detected{x}", "external screen flickers", "docking station not charging")),
    (6, ("please install Visio on my laptop", "can I get Adobe Acrobat Pro", "need Python installed{x}",
         "install Power BI desktop please")),
    (6, ("I need access to {s}{x}", "please give me access to the {s} finance module", ("request access to "
         "{s} for my new role"), "j'ai besoin d'un accès à {s}")),
    (3, ("need access to the marketing shared drive", "please add me to the legal SharePoint site")),
    (3, ("I need a new laptop, mine is 5 years old", "can I order a headset", "need a second monitor")),
    (3, ("new hire starting Monday, please set up an account", "onboarding for a new intern next week")),
    (2, ("an employee leaves Friday, please disable the account", "offboarding for John next week")),
    (3, ("I deleted a file on OneDrive by mistake{x}", "restore a folder on the shared drive from yesterday")),
    (3, ("my laptop won't turn on{x}", "blue screen on startup", "BitLocker asks for a recovery key")),
    (6, ("{s} crashes when I open a report{x}", "{s} is very slow for me today", ("{s} shows an error when I "
         "save"), "I get an error in {s} when exporting", "{s} doesn't open on my laptop", ("{s} plante au "
         "démarrage"), "Outlook crashes when I open the calendar", "Teams crashes on start{x}",
         "Outlook won't open, stuck on loading profile", "Excel freezes with big files")),
    (3, ("the intranet page shows error 500{x}", "the expense website gives a 404", ("certificate warning "
         "on the HR portal"))),
    (2, ("my desk phone has no dial tone", "can't call out from Teams Phone", ("poor call quality on my desk "
         "phone{x}"))),
    (2, ("no network on my desk, cable plugged in{x}", "my ethernet port doesn't work")),
    (2, ("I got a weird email asking for my password", "I clicked a link in a phishing mail{x}")),
    (1, ("I think my laptop has a virus", "I lost my phone on the train")),
    (4, ("hello", "hi there", "bonjour", "thanks!", "thank you so much", "merci beaucoup")),
    (3, ("what's the status of my ticket?", "any news on my request?", "où en est mon ticket ?")),
    (2, ("I want to talk to a human", "can I speak to someone please")),
    (3, ("where is my payslip?", "how many holidays do I have left", "the coffee machine is broken",
         "parking badge doesn't open the gate")),
)
SYSTEMS = ("SAP", "Salesforce", "Workday", "Jira", "Concur", "Outlook", "Teams", "Excel", "the CRM", "ServiceNow",
           "Confluence", "the ERP", "Citrix")
FILLERS = ("", "", "", "", " please", "!!", " since this morning", ", help", " again", " :(", "?", " asap",
           ", it's urgent", " - thanks", " for the third time today")
FLOORS = ("1st", "2nd", "3rd", "4th", "5th", "ground")
BUILDINGS = ("A", "B", "C", "D")


def _typo(rng: random.Random, text: str) -> str:
    """Now and then a swapped pair of letters, or all in lower case, or all in capitals."""
    roll = rng.random()
    if roll < 0.12 and len(text) > 8:
        i = rng.randrange(1, len(text) - 2)
        if text[i].isalpha() and text[i + 1].isalpha():
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if roll < 0.2:
        return text.lower()
    if roll < 0.23:
        return text.upper()
    return text


def _fill(rng: random.Random, template: str) -> str:
    return _typo(rng, template.format(x=rng.choice(FILLERS), s=rng.choice(SYSTEMS), f=rng.choice(FLOORS),
                                      b=rng.choice(BUILDINGS)))


def _arrival(rng: random.Random) -> dt.timedelta:
    """A time of the day: a morning peak, a lull at lunch, a smaller afternoon peak."""
    while True:
        minutes = rng.uniform(0, HOURS * 60)
        busy = 1.0 if minutes < 150 else 0.45 if 210 <= minutes < 270 else 0.7
        if rng.random() < busy:
            return dt.timedelta(minutes=minutes)


def simulated_day(*, seed: int = 15, messages: int = 3000, people: int = 400) -> list[SimMessage]:
    """The day's messages in arrival order (outage reports included in ``messages``)."""
    rng = random.Random(seed)
    everyone = [f"p{i:03d}@corp.example" for i in range(people)]
    day: list[SimMessage] = []
    for outage in OUTAGES:
        for who in rng.sample(everyone, outage.reports):
            at = START + outage.start + outage.spread * rng.betavariate(1.2, 2.5)
            day.append(SimMessage(at, who, _fill(rng, rng.choice(outage.texts)), outage.name))
    weights = [w for w, _ in BACKGROUND]
    while len(day) < messages:
        templates = rng.choices([t for _, t in BACKGROUND], weights)[0]
        day.append(SimMessage(START + _arrival(rng), rng.choice(everyone), _fill(rng, rng.choice(templates)), None))
    return sorted(day, key=lambda m: m.at)
