"""A simulated day at a 2,000-person company's service desk, for bench/major_incidents.py (seeded: the same seed,
the same day).

Several thousand messages from a few hundred people over nine hours (more in the morning and after lunch). The
background is independent people with independent problems: each message is composed from parts (which app, which
action, which error text, which device or room, since when), in English or (about 15 %) French, as a chat
one-liner or a mail with greeting and signature, now and then with typos. A symptom (a phrasing, with its
translation and the other phrasings of the same trouble, ``Kind.alike``) is never said by a third person within
half an hour: three people with one symptom that soon is what this day calls an outage. Before 2026-12-04 the
background had dozens of those, "my print jobs are stuck in the PaperCut queue" from 78 people, and no rule could
tell them from the outages; until the evening of that day, "can't join CORP-WIFI with my laptop", "my laptop sees
CORP-WIFI but says 'can't connect to this network'" and their French counted as three symptoms. The popular
systems (Outlook, Teams, SAP, the VPN) come up all day, each time with its own symptom. Into this a few real outages
of 9-42 reports each: different people describing the one symptom in their own words.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field

START = dt.datetime(2026, 3, 3, 8, 30, tzinfo=dt.UTC)  # a Tuesday
HOURS = 9
FRENCH = 0.15  # the share of messages written in French
MAIL = 0.35  # the share written like a mail (greeting, body, closing, signature)
UNRELATED_WINDOW = dt.timedelta(minutes=30)

Slots = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Kind:
    """One kind of message: its phrasings in each language; ``{slot}``s are filled from ``slots``, then from the
    shared ``COMMON_EN``/``COMMON_FR`` ones (a filled value may hold slots of its own)."""

    en: tuple[str, ...]
    fr: tuple[str, ...]
    slots: Slots | None = None
    small_talk: bool = False  # a chat line as it is: no detail added, never a mail
    # Phrasings that say one symptom, a group a string of their places ("en0 en2 fr0": en[0], en[2], fr[0]); a
    # phrasing in no group is a symptom of its own.
    alike: tuple[str, ...] = ()
    _symptoms: dict[str, str] = field(init=False, repr=False, compare=False)  # a phrasing -> its group's first

    def __post_init__(self) -> None:
        symptoms: dict[str, str] = {}
        for group in self.alike:
            phrasings = []
            for ref in group.split():
                match = re.fullmatch(r"(en|fr)(\d+)", ref)
                if match is None or int(match.group(2)) >= len(getattr(self, match.group(1))):
                    raise ValueError(f"{ref!r} in alike={group!r} is no phrasing of {self.en[0]!r}'s kind")
                phrasings.append(getattr(self, match.group(1))[int(match.group(2))])
            symptoms.update(dict.fromkeys(phrasings, phrasings[0]))
        object.__setattr__(self, "_symptoms", symptoms)  # frozen: set once, here

    def symptom(self, template: str) -> str:
        """What ``template`` says, as one of its group's phrasings (itself when it is in no group)."""
        return self._symptoms.get(template, template)


@dataclass(frozen=True)
class Outage:
    name: str
    start: dt.timedelta  # after START
    spread: dt.timedelta  # its reports arrive within this
    reports: int
    says: Kind  # its reports' phrasings of the one symptom


@dataclass(frozen=True)
class SimMessage:
    at: dt.datetime
    who: str
    text: str
    outage: str | None  # the outage it reports, None for the background


OUTAGES = (
    Outage("VPN gateway in Paris", dt.timedelta(minutes=25), dt.timedelta(minutes=35), 28, Kind(
        en=("the VPN gateway in Paris is not responding", "GlobalProtect can't reach the Paris gateway{tail}",
            "GlobalProtect says 'gateway paris-gw not responding'", "vpn down?? globalprotect wont connect{tail}",
            "cannot connect to the VPN {since}, GlobalProtect keeps spinning on the Paris gateway",
            "Global Protect: gateway not responding, I'm in Paris", "is the Paris VPN gateway down? {colleagues}",
            "GlobalProtect stuck on 'Connecting...' {since}", "VPN connection fails: 'gateway not responding'",
            "I can't get on the VPN, the portal does not respond {since}", "paris vpn not working{tail}",
            "the VPN times out on the Paris portal, {colleagues}"),
        fr=("impossible de me connecter au VPN, GlobalProtect n'arrive pas à joindre la passerelle de Paris",
            "la passerelle VPN de Paris ne répond plus{tail}", "le VPN ne marche plus {since_fr}, {colleagues_fr}",
            "GlobalProtect tourne dans le vide, la passerelle de Paris ne répond pas", "VPN HS à Paris ?"),
        slots={"since": ("since 9", "since about 9", "for 10 minutes", "this morning", "since I got in"),
               "since_fr": ("depuis 9h", "depuis ce matin", "depuis 10 minutes")})),
    Outage("SAP down", dt.timedelta(hours=1, minutes=40), dt.timedelta(minutes=40), 42, Kind(
        en=("SAP is down{tail}", "SAP not loading for me and my team", "is SAP down? I get a timeout on login",
            "sap wont open, error connecting to the server{tail}", "SAP GUI freezes at the logon screen",
            "SAP Fiori gives a blank page {since}", "we cannot post invoices, SAP is not responding",
            "SAP has been unreachable {since}, {colleagues}", "URGENT: SAP down, month-end closing blocked!!",
            "SAP keeps saying 'connection to the message server failed'", "cant log in to SAP{tail}",
            "S/4HANA not available?", "SAP logon hangs and then says the system is not reachable",
            "SAP stopped working in the middle of my posting, now I can't get back in",
            "is there a problem with SAP? {colleagues}"),
        fr=("SAP ne répond plus, impossible de saisir les commandes", "SAP est en panne ?{tail}",
            "impossible de me connecter à SAP {since_fr}, {colleagues_fr}", "SAP ne se lance plus, délai dépassé"),
        slots={"since": ("for 10 minutes", "since 10:10", "since a few minutes", "for a quarter of an hour"),
               "since_fr": ("depuis 10 minutes", "depuis 10h10", "depuis un quart d'heure")})),
    Outage("printer floor 3 building B", dt.timedelta(hours=4, minutes=50), dt.timedelta(minutes=50), 12, Kind(
        en=("the printer on floor 3 of building B is not printing", "printer 3rd floor building B jammed{tail}",
            "building B, 3rd floor: the big printer shows an error and prints nothing",
            "printer on the third floor (bldg B) offline", "nothing comes out of the 3rd floor printer in building B",
            "B building floor 3 printer is dead{tail}", "my jobs don't come out on the printer of floor 3, building B",
            "the copier on the 3rd floor of building B shows a red light, {colleagues}"),
        fr=("l'imprimante du 3e étage du bâtiment B ne marche plus", "imprimante du 3e étage bât. B en erreur{tail}",
            "plus rien ne sort de l'imprimante du 3e étage (bâtiment B)"),
        slots={"since": ("since 1pm", "since lunch", "for half an hour"), "since_fr": ("depuis midi",)})),
    Outage("Outlook 0x800CCC0E", dt.timedelta(hours=6, minutes=30), dt.timedelta(minutes=30), 20, Kind(
        en=("Outlook cannot send mail, error 0x800CCC0E", "error 0x800CCC0E in Outlook when sending{tail}",
            "my outlook says 0x800CCC0E and nothing goes out", "Outlook: Sending reported error (0x800CCC0E)",
            "getting 0x800ccc0e {since}, mails stuck in the outbox", "Outlook error 0x800CCC0E, {colleagues}",
            "my mails stay in the outbox, Outlook shows 0x800CCC0E"),
        fr=("Impossible d'envoyer des mails dans Outlook, erreur 0x800CCC0E", "erreur 0x800CCC0E dans Outlook{tail}",
            "mes mails restent dans la boîte d'envoi, Outlook affiche 0x800CCC0E"),
        slots={"since": ("since 3pm", "for 10 minutes", "since a moment")})),
    Outage("network down in building C", dt.timedelta(hours=2, minutes=55), dt.timedelta(minutes=20), 9, Kind(
        en=("no network at all in building C{tail}", "the wired network is down in building C",
            "building C has no internet since 11", "network dead in bldg C{tail}",
            "nothing loads in building C, {colleagues}", "building C: no network on any desk"),
        fr=("plus de réseau dans le bâtiment C", "bâtiment C : plus rien ne marche, pas de réseau{tail}"),
        slots={"since": ("since 11", "for 5 minutes", "since a few minutes"), "since_fr": ("depuis 11h",)})),
)

# The background: (weight, kind). Weights roughly as a desk's day: passwords and the big systems lead.
BACKGROUND: tuple[tuple[float, Kind], ...] = (
    (9, Kind(
        alike=("en0 en2 fr0", "en1 fr1", "en3 fr2"),
        en=("I forgot my {account} password", "my {account} password expired {since} and the change page says "
            "{pw_error}", "need to reset my {account} pasword{tail}", "my {account} password doesn't work anymore "
            "after I changed it on {device}", "the password reset link I got says {pw_error}"),
        fr=("j'ai oublié mon mot de passe {account}", "mon mot de passe {account} a expiré, la page dit "
            "{pw_error}", "mon mot de passe {account} ne marche plus depuis que je l'ai changé"),
        slots={"account": ("Windows", "network", "email", "Okta", "SAP", "Workday", "Concur", "Citrix"),
               "pw_error": ("'the password does not meet the requirements'", "'link expired'",
                            "'you cannot reuse a recent password'", "'something went wrong'")})),
    (5, Kind(
        alike=("en0 en1 fr0 fr1",),
        en=("my {account} account is locked{tail}", "locked out of {account} after {n} attempts",
            "{account} says my account is disabled, I came back from {leave} today"),
        fr=("mon compte {account} est bloqué", "compte {account} verrouillé après {n} essais"),
        slots={"account": ("Windows", "Okta", "SAP", "Salesforce", "Workday"), "n": ("3", "5", "too many"),
               "leave": ("holiday", "parental leave", "a long sick leave")})),
    (4, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("new phone, need to move Okta Verify from my {phone}", "the Okta push never arrives on my {phone}",
            "MFA asks me to approve every {minutes} minutes", "I lost the phone with my authenticator on it"),
        fr=("nouveau téléphone, comment je transfère Okta Verify ?", "je ne reçois plus les notifications Okta "
            "sur mon {phone}"))),
    (6, Kind(  # the VPN's everyday troubles: one person, one cause
        alike=("en1 en7 fr0", "en0 fr1", "en4 fr2", "en2 fr3"),
        en=("GlobalProtect asks for my password every {minutes} minutes", "my VPN drops every {minutes} minutes on "
            "{network}", "can't install GlobalProtect on {device}, the installer says {install_error}",
            "VPN is connected but I can't reach {share}", "the VPN is very slow when I {vpn_action}",
            "GlobalProtect shows a certificate warning on my Mac", "Teams calls are choppy when I'm on the VPN",
            "the VPN disconnects every time my laptop goes to sleep", "how do I connect to the VPN from {device}?"),
        fr=("le VPN se déconnecte toutes les {minutes} minutes sur {network}", "GlobalProtect me redemande mon "
            "mot de passe sans arrêt", "le VPN est très lent quand je {vpn_action_fr}", "impossible d'installer "
            "GlobalProtect sur mon nouveau portable"),
        slots={"network": ("my home wifi", "the hotel wifi", "my 4G hotspot", "the train wifi"),
               "install_error": ("'error 1603'", "'administrator rights required'", "'the package is corrupt'"),
               "share": ("the finance share", "the S: drive", "the intranet", "our team's Jira"),
               "vpn_action": ("download files from SharePoint", "open big Excel files on the share",
                              "sync my OneDrive", "copy files to the S: drive"),
               "vpn_action_fr": ("télécharge des fichiers", "ouvre les fichiers du partage")})),
    (6, Kind(
        alike=("en1 en4 fr2", "en0 fr0", "en2 fr1"),
        en=("wifi keeps disconnecting in meeting room {room}", "can't join CORP-WIFI with {device}",
            "guest wifi code for a visitor {when} please", "the wifi is very slow at my desk on the {floor} floor",
            "my laptop sees CORP-WIFI but says 'can't connect to this network'"),
        fr=("le wifi ne marche pas dans la salle {room}", "code wifi invité pour un visiteur {when_fr} svp",
            "mon portable ne se connecte plus au wifi CORP-WIFI"),
        slots={"when": ("this afternoon", "tomorrow at 10", "on Thursday"),
               "when_fr": ("cet après-midi", "demain matin", "jeudi")})),
    (4, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("how do I get my work email on my {phone}", "Outlook on my {phone} stopped syncing {since}",
            "the mail app on my {phone} asks for my password all the time"),
        fr=("comment j'ajoute ma messagerie pro sur mon {phone} ?", "Outlook ne se synchronise plus sur mon "
            "{phone}"))),
    (3, Kind(
        alike=("en0 en1 en2 fr0 fr1",),
        en=("my mailbox is full, I can't send {since}", "I got a warning that my mailbox is at {pct} %",
            "can you increase my mailbox quota? I'm at {pct} %"),
        fr=("ma boîte mail est pleine, je ne peux plus envoyer", "boîte aux lettres à {pct} %, je peux avoir "
            "plus de place ?"),
        slots={"pct": ("95", "98", "99", "100")})),
    (3, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("how do I share my calendar with {person}", "need delegate access to {person}'s calendar",
            "my assistant can't see my private meetings"),
        fr=("comment partager mon calendrier avec {person} ?", "j'ai besoin d'accéder au calendrier de "
            "{person}"))),
    (9, Kind(  # Outlook all day, each time its own symptom
        alike=("en1 fr0", "en0 fr1", "en2 fr2", "en3 fr3", "en7 fr4"),
        en=("Outlook search doesn't find {search_what}", "Outlook crashes when I {outlook_action}",
            "my Outlook signature disappeared {since}", "the shared mailbox {mailbox} doesn't show in Outlook",
            "my Outlook rules stopped moving mails to {folder}", "the Teams add-in disappeared from Outlook",
            "Outlook forgot all my autocomplete addresses", "Outlook asks for my password again and again",
            "I can't set my out-of-office in Outlook, it says 'your automatic reply settings cannot be displayed'",
            "meeting invites from {person} never arrive in my Outlook", "Outlook shows my meetings one hour off",
            "attachments over {size} MB bounce when I send them from Outlook", "Outlook is stuck on 'Loading "
            "profile' after the update on {device}", "Outlook opens every mail in a new window, how do I stop that",
            "my Outlook calendar is empty but the web version shows my meetings", "Outlook won't open PDF "
            "attachments, it says no app is associated"),
        fr=("Outlook plante quand j'ouvre {outlook_action_fr}", "la recherche Outlook ne trouve plus {search_fr}",
            "ma signature Outlook a disparu {since_fr}", "la boîte partagée {mailbox} n'apparaît plus dans "
            "Outlook", "Outlook me redemande mon mot de passe sans arrêt"),
        slots={"search_what": ("mails older than {weeks} weeks", "anything in my archive", "mails from {person}",
                               "anything in the shared mailbox"),
               "outlook_action": ("open a shared calendar", "reply with an attachment", "print an email",
                                  "drag a mail into a folder", "accept a meeting invite", "open my archive",
                                  "switch to the calendar view", "open a mail with a video"),
               "outlook_action_fr": ("un calendrier partagé", "une pièce jointe", "mes archives"),
               "search_fr": ("les mails de plus de {weeks} semaines", "rien dans mes archives"),
               "mailbox": ("finance@", "hr-team@", "support-fr@", "invoices@", "sales-emea@"),
               "folder": ("Projects", "Invoices", "Newsletters", "Clients"), "size": ("10", "15", "20"),
               "weeks": ("2", "3", "6")})),
    (8, Kind(  # Teams and meeting rooms
        alike=("en0 fr0", "en1 fr1", "en2 fr2", "en6 fr3", "en12 fr4"),
        en=("the camera is not detected in Teams on {device}", "no sound in Teams calls with my {headset}",
            "Teams crashes when I share {screen_what}", "external guests can't join my Teams meetings",
            "Teams messages arrive {minutes} minutes late", "my Teams status is stuck on 'away'",
            "I can't see the Teams channel {channel} anymore", "Teams won't let me upload files to {channel}",
            "the Teams background blur option is missing", "I get no Teams notifications on {device}",
            "my microphone works everywhere except in Teams", "Teams shows 'we couldn't connect you' when I "
            "join from meeting room {room}", "the screen in meeting room {room} shows no signal",
            "the ClickShare in room {room} doesn't connect", "Zoom says my connection is unstable in room {room}"),
        fr=("la caméra n'est pas détectée dans Teams", "pas de son dans Teams avec mon {headset}",
            "Teams plante quand je partage {screen_what_fr}", "je ne vois plus le canal {channel} dans Teams",
            "l'écran de la salle {room} n'affiche rien"),
        slots={"headset": ("Jabra headset", "Poly headset", "AirPods", "new USB headset"),
               "screen_what": ("my screen", "a PowerPoint", "a second screen", "a window"),
               "screen_what_fr": ("mon écran", "une présentation"),
               "channel": ("Marketing-EMEA", "Project Atlas", "Finance Close", "IT-News", "Sales Team")})),
    (8, Kind(  # SAP and the business apps: one user's function, not the system
        alike=("en0 fr0", "en1 fr1", "en7 en8 fr2", "en9 fr3"),
        en=("SAP transaction {tcode} says I'm not authorized", "SAP crashes when I export {report} to Excel",
            "SAP is very slow when I run {report}", "I can't print from SAP to {printer}",
            "the Fiori tile '{tile}' disappeared from my launchpad", "I can't approve purchase order {po} in SAP, "
            "the button is greyed out", "SAP GUI shows a script error since the update on {device}",
            "{app} {app_trouble}", "{app} {app_trouble} {since}", "{app} shows '{app_error}' when I {app_action}"),
        fr=("la transaction SAP {tcode} me dit que je n'ai pas l'autorisation", "SAP plante quand j'exporte "
            "{report} vers Excel", "{app} {app_trouble_fr}", "{app} affiche '{app_error}' quand je "
            "{app_action_fr}"),
        slots={"tcode": ("ME21N", "VA01", "FB60", "MIGO", "F-53", "ME23N"),
               "report": ("the open items report", "the stock list", "the cost centre report", "my invoice list"),
               "printer": ("the printer of my floor", "PDF", "the label printer"),
               "tile": ("My Inbox", "Manage Purchase Orders", "Display Customer", "Approve Invoices"),
               "po": ("4500012873", "4500013390", "4500011206"),
               "app": ("Salesforce", "Workday", "Jira", "Concur", "Confluence", "ServiceNow", "Citrix", "Excel",
                       "Power BI", "the CRM"),
               "app_trouble": ("won't let me upload an attachment", "export to PDF gives a blank file",
                               "doesn't show the menu I used to have", "logs me out every few minutes",
                               "is very slow when I open my dashboard", "crashes when I open big files",
                               "doesn't save my changes", "shows numbers in the wrong format",
                               "sends me no notification emails anymore"),
               "app_trouble_fr": ("ne me laisse pas joindre de fichier", "m'affiche des chiffres au mauvais format",
                                  "me déconnecte toutes les cinq minutes"),
               "app_error": ("Access denied", "Unexpected error, try again", "Session expired",
                             "Field X is mandatory", "Object reference not set to an instance of an object"),
               "app_action": ("save my expense report", "submit my timesheet", "attach a receipt",
                              "create a new board", "edit a page", "open my workspace", "move a ticket"),
               "app_action_fr": ("enregistre ma note de frais", "valide ma feuille de temps")})),
    (5, Kind(
        alike=("en0 en1 fr0", "en2 fr1"),
        en=("please give me access to {app} {module}", "I need access to {app} for my new role",
            "request access to the {dept} shared drive", "please add me to the {dept} SharePoint site"),
        fr=("j'ai besoin d'un accès à {app} {module}", "pouvez-vous me donner accès au partage {dept} ?"),
        slots={"app": ("SAP", "Salesforce", "Workday", "Jira", "Power BI", "Confluence"),
               "module": ("finance module", "reporting", "for the Atlas project", "in read only", "")})),
    (5, Kind(
        alike=("en0 en1 en2 fr0 fr1",),
        en=("please install {software} on my laptop", "can I get {software}?", "I need {software} for "
            "{purpose}"),
        fr=("pouvez-vous installer {software} sur mon poste ?", "j'ai besoin de {software} pour {purpose_fr}"),
        slots={"software": ("Visio", "Adobe Acrobat Pro", "Python", "Power BI Desktop", "Notepad++", "7-Zip",
                            "Tableau", "R Studio", "MS Project"),
               "purpose": ("a client project", "my new role", "the audit", "the training next week"),
               "purpose_fr": ("un projet client", "ma formation")})),
    (5, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("my laptop is so slow {since}", "{device} takes {minutes} minutes to boot", "my laptop fans run at "
            "full speed and everything lags", "everything freezes when I have {app} and Teams open"),
        fr=("mon pc rame énormément {since_fr}", "mon portable met {minutes} minutes à démarrer"),
        slots={"app": ("Excel", "Chrome", "SAP", "Power BI")})),
    (4, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("my second monitor is not detected on the dock", "the external screen flickers when I {screen_action}",
            "the docking station doesn't charge my laptop", "my laptop screen has a {line} line across it"),
        fr=("mon deuxième écran n'est plus détecté", "l'écran externe clignote"),
        slots={"screen_action": ("move the cable", "open Teams", "wake the laptop"),
               "line": ("green", "pink", "black")})),
    (4, Kind(
        alike=("en1 fr0", "en2 fr1"),
        en=("I need a new laptop, mine is {years} years old", "can I order a {hardware}?", "my {hardware} is "
            "broken, can I get a new one", "I spilled coffee on my keyboard"),
        fr=("je peux commander un {hardware} ?", "mon {hardware} est cassé"),
        slots={"years": ("4", "5", "6"), "hardware": ("headset", "mouse", "keyboard", "second monitor",
                                                      "laptop bag", "docking station")})),
    (4, Kind(
        alike=("en0 en1 fr0", "en2 en3 fr1"),
        en=("new hire {person} starts {when}, please set up an account", "onboarding for a new intern {when}",
            "{person} leaves on Friday, please disable the account", "offboarding for {person} {when}"),
        fr=("nouvel arrivant {person} {when_fr}, merci de créer son compte", "{person} part vendredi, merci de "
            "désactiver son compte"),
        slots={"when": ("on Monday", "next week", "on the 15th"), "when_fr": ("lundi", "la semaine prochaine")})),
    (3, Kind(
        alike=("en0 fr0", "en2 fr1"),
        en=("I deleted {file} on OneDrive by mistake", "can you restore the {dept} folder on the shared drive to "
            "yesterday's version", "my OneDrive stopped syncing {since}"),
        fr=("j'ai supprimé {file} par erreur sur OneDrive", "OneDrive ne se synchronise plus"),
        slots={"file": ("the budget file", "my Projects folder", "a presentation for tomorrow", "Q1 forecast.xlsx")})),
    (3, Kind(
        alike=("en0 fr0", "en1 fr1", "en2 fr2"),
        en=("my laptop won't turn on, the {light} light blinks", "blue screen '{bsod}' at startup",
            "BitLocker asks for a recovery key after {trigger}"),
        fr=("mon portable ne s'allume plus", "écran bleu '{bsod}' au démarrage", "BitLocker me demande une clé "
            "de récupération"),
        slots={"light": ("orange", "white", "power"), "bsod": ("CRITICAL_PROCESS_DIED", "INACCESSIBLE_BOOT_DEVICE",
                                                               "IRQL_NOT_LESS_OR_EQUAL"),
               "trigger": ("the BIOS update", "I changed the dock", "a restart")})),
    (3, Kind(
        alike=("en0 fr0", "en2 fr1"),
        en=("the intranet page '{page}' shows error 500", "the expense website gives a 404 on {page}",
            "certificate warning when I open the {portal}"),
        fr=("la page '{page}' de l'intranet affiche une erreur 500", "avertissement de certificat sur le "
            "{portal}"),
        slots={"page": ("canteen menu", "org chart", "travel policy", "news", "my payslips"),
               "portal": ("HR portal", "travel portal", "supplier portal")})),
    (2, Kind(
        alike=("en0 fr0", "en1 fr1"),
        en=("my desk phone has no dial tone", "I can't call {country} numbers from Teams Phone",
            "poor call quality on my desk phone{tail}"),
        fr=("mon téléphone fixe n'a plus de tonalité", "impossible d'appeler {country} depuis Teams"),
        slots={"country": ("UK", "US", "Moroccan", "Swiss")})),
    (3, Kind(
        alike=("en0 en1 en2 fr0",),
        en=("no network on my desk {desk}, cable plugged in", "the ethernet port at desk {desk} doesn't work",
            "my laptop says 'unidentified network' on the cable at my desk"),
        fr=("pas de réseau sur mon poste {desk}, le câble est branché",),
        slots={"desk": ("{building}{floor_n}-{desk_n}",), "desk_n": tuple(f"{n:02d}" for n in range(1, 41))})),
    (2, Kind(
        alike=("en0 fr0", "en3 fr1"),
        en=("I got a weird email from '{sender}' asking for my password", "I clicked a link in a phishing mail"
            "{tail}", "I think my laptop has a virus, pop-ups everywhere", "I lost my phone on the train"),
        fr=("j'ai reçu un mail bizarre de '{sender}' qui demande mon mot de passe", "j'ai perdu mon téléphone"),
        slots={"sender": ("IT Helpdesk", "Microsoft 365", "DocuSign", "Payroll")})),
    (6, Kind(
        alike=("en0 fr0", "en1 fr1", "en4 fr2"),
        en=("the printer {printer_at} is jammed{tail}", "my print jobs are stuck in the PaperCut queue",
            "can't add the printer on my mac", "the printer {printer_at} prints blank pages",
            "the scanner {printer_at} doesn't send scans to my email", "the printer {printer_at} says toner low"),
        fr=("l'imprimante {printer_at_fr} bourre", "mes impressions restent bloquées dans PaperCut",
            "le scanner {printer_at_fr} n'envoie plus les scans par mail"),
        slots={"printer_at": ("on the {floor} floor", "near the kitchen", "on floor {floor_n} of building "
                              "{building}", "in building {building}", "next to my desk"),
               "printer_at_fr": ("du {floor_n}e étage", "près de la cuisine", "du bâtiment {building}")})),
    (5, Kind(
        en=("hello", "hi there", "hi, anyone there?", "thanks!", "thank you so much, it works now",
            "good morning", "thanks {person}, all good now", "ok thanks", "great, thank you!"),
        fr=("bonjour", "merci beaucoup", "merci, ça marche", "bonjour, il y a quelqu'un ?"), small_talk=True)),
    (3, Kind(
        en=("what's the status of my ticket #{ticket}?", "any news on my request?", "I'm still waiting on "
            "ticket {ticket}"),
        fr=("où en est mon ticket {ticket} ?", "des nouvelles de ma demande ?"),
        slots={"ticket": ("1042", "1187", "1203", "988", "1311", "1276", "1330", "1019")}, small_talk=True)),
    (2, Kind(en=("I want to talk to a human", "can I speak to someone please", "can a person call me about "
                 "ticket {ticket}?", "connect me to an agent"),
             fr=("je voudrais parler à quelqu'un", "je peux parler à un technicien ?"),
             slots={"ticket": ("1042", "1187", "1203")}, small_talk=True)),
    (3, Kind(
        alike=("en0 fr0", "en2 fr1"),
        en=("where is my payslip?", "how many holidays do I have left", "the coffee machine on the {floor} floor "
            "is broken", "my parking badge doesn't open the gate"),
        fr=("où est ma fiche de paie ?", "la machine à café est en panne"))),
)

COMMON_EN: Slots = {
    "since": ("since this morning", "since yesterday", "since the update last night", "since I came back from "
              "holiday", "for two days now", "since Monday", "after the restart", "since last week"),
    "device": ("my laptop", "my new laptop", "my Dell", "my MacBook", "my home PC", "the PC in room {room}"),
    "phone": ("iPhone", "Android phone", "Samsung", "new iPhone"),
    "room": ("Everest", "Mont Blanc", "Loire", "Seine", "Atlas", "Oslo", "Kilimanjaro", "Rhône", "Fuji"),
    "floor": ("1st", "2nd", "4th", "5th", "ground"), "floor_n": ("1", "2", "3", "4", "5"),
    "building": ("A", "B", "C", "D"), "minutes": ("5", "10", "15", "20", "30"),
    "person": ("Anna", "my manager", "Marc Dubois", "Julia", "the new intern", "Karim", "Sophie Martin"),
    "dept": ("marketing", "legal", "finance", "HR", "logistics", "sales"),
    "tail": ("", "", "", " please", "!!", ", help", " again", " :(", "?", " asap", ", it's urgent",
             " - thanks"),
    "colleagues": ("my colleagues too", "the whole team is blocked", "nobody here can work", "same for my "
                   "neighbours"),
}
COMMON_FR: Slots = {
    **COMMON_EN,
    "since": ("depuis ce matin", "depuis hier", "depuis la mise à jour", "depuis deux jours", "depuis lundi"),
    "since_fr": ("depuis ce matin", "depuis hier", "depuis la mise à jour"),
    "device": ("mon portable", "mon nouveau PC", "mon Mac"), "phone": ("iPhone", "téléphone Android"),
    "person": ("Anne", "mon manager", "Marc Dubois", "la nouvelle stagiaire"),
    "dept": ("marketing", "juridique", "finance", "RH"),
    "tail": ("", "", " svp", " !!", ", merci", " encore", " ?", ", c'est urgent"),
    "colleagues_fr": ("mes collègues aussi", "toute l'équipe est bloquée", "personne ne peut travailler"),
}

# What a chat line may add after the problem: since when, on what, how it feels.
DETAIL_EN = ("", "", " {since}", ", {since}", " on {device}", " ({device})", "{tail}", ", {since}{tail}",
             " - {since}, {device}")
DETAIL_FR = ("", "", " {since}", ", {since}", " sur {device}", "{tail}")
SAYS_WHEN = re.compile(r"\b(since|depuis|this morning|for (two|\d+|a|half))\b", re.IGNORECASE)  # then no second "since"

# What a mail adds around the problem: a greeting, a sentence of context, a closing and a signature.
MAIL_EN = {
    "greeting": ("Hi,", "Hello,", "Hello IT,", "Hi team,", "Good morning,", "Dear IT support,", "Hey,"),
    "context": ("I already restarted my laptop.", "It worked fine yesterday.", "I have a client meeting at "
                "{hour}, so it's a bit urgent.", "Not urgent.", "Could you have a look?", "I tried twice.",
                "Can someone call me?", ""),
    "closing": ("Thanks,", "Thank you,", "Best regards,", "Cheers,", "Regards,", "Thanks in advance,"),
    "hour": ("11", "2pm", "3:30", "10"),
}
MAIL_FR = {
    "greeting": ("Bonjour,", "Bonjour à tous,", "Salut,", "Bonjour le support,"),
    "context": ("J'ai déjà redémarré.", "Ça marchait hier.", "J'ai une réunion à {hour}, c'est urgent.",
                "Pas urgent.", "Merci de regarder.", ""),
    "closing": ("Merci,", "Cordialement,", "Bonne journée,", "Merci d'avance,"),
    "hour": ("11h", "14h", "15h30"),
}
FIRST_NAMES = ("Anna", "Marc", "Julia", "Karim", "Sophie", "Tom", "Lea", "Nadia", "Pierre", "Ravi", "Elena", "Hugo",
               "Chloé", "Omar", "Ines", "Lukas", "Sara", "Yann", "Mia", "Paul")
LAST_NAMES = ("Martin", "Dubois", "Becker", "Rossi", "Nguyen", "Garcia", "Leroy", "Schmidt", "Moreau", "Khan",
              "Petit", "Silva", "Roux", "Meyer", "Fontaine")
DEPARTMENTS = ("Finance", "Sales", "HR", "Logistics", "Marketing", "Legal", "Procurement", "R&D")
_SLOT = re.compile(r"\{(\w+)\}")


def _compose(rng: random.Random, template: str, slots: Slots) -> str:
    """The template with each slot a random value (slots inside values filled in turn)."""
    for _ in range(4):  # values nest at most a few deep
        if not _SLOT.search(template):
            break
        template = _SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)
    return template


def _say(rng: random.Random, kind: Kind, *, french: bool, template: str | None = None) -> str:
    common = COMMON_FR if french else COMMON_EN
    template = template if template is not None else rng.choice(kind.fr if french else kind.en)
    return _compose(rng, template, {**common, **(kind.slots or {})})


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


def _message(rng: random.Random, kind: Kind, who: int, *, french: bool, template: str) -> str:
    """One person's message about ``kind`` in the words of ``template``: a chat line, or a mail with greeting,
    context and signature."""
    problem = _say(rng, kind, french=french, template=template)
    if kind.small_talk:
        return _typo(rng, problem)
    if rng.random() >= MAIL:
        says_when = SAYS_WHEN.search(problem)  # the kind's own slots: an outage's "since" is this morning's
        details = Kind(en=("{tail}",) if says_when else DETAIL_EN, fr=("{tail}",) if says_when else DETAIL_FR,
                       slots=kind.slots)
        detail = _say(rng, details, french=french)
        return _typo(rng, problem + detail)
    parts = MAIL_FR if french else MAIL_EN
    body = problem[0].upper() + problem[1:]
    body = body if body.endswith(("?", "!", ".")) else f"{body}."
    context = _compose(rng, rng.choice(parts["context"]), parts)
    signature = f"{FIRST_NAMES[who % len(FIRST_NAMES)]} {LAST_NAMES[who // len(FIRST_NAMES) % len(LAST_NAMES)]}"
    if rng.random() < 0.5:
        signature += f"\n{DEPARTMENTS[who % len(DEPARTMENTS)]}"
    lines = [rng.choice(parts["greeting"]), "", _typo(rng, f"{body} {context}".strip()), "",
             rng.choice(parts["closing"]), signature]
    return "\n".join(lines)


def _arrival(rng: random.Random) -> dt.timedelta:
    """A time of the day: a morning peak, a lull at lunch, a smaller afternoon peak."""
    while True:
        minutes = rng.uniform(0, HOURS * 60)
        busy = 1.0 if minutes < 150 else 0.45 if 210 <= minutes < 270 else 0.7
        if rng.random() < busy:
            return dt.timedelta(minutes=minutes)


def _words(rng: random.Random, kind: Kind) -> tuple[bool, str]:
    """A language (French or not) and one of ``kind``'s phrasings in it."""
    french = rng.random() < FRENCH
    return french, rng.choice(kind.fr if french else kind.en)


def simulated_day(*, seed: int = 15, messages: int = 3000, people: int = 400) -> list[SimMessage]:
    """The day's messages in arrival order (outage reports included in ``messages``); a background symptom said
    twice in the last ``UNRELATED_WINDOW`` is not drawn again until it has gone quiet (the module's docstring)."""
    rng = random.Random(seed)
    everyone = [f"p{i:03d}@corp.example" for i in range(people)]
    day: list[SimMessage] = []
    for outage in OUTAGES:
        for who in rng.sample(range(people), outage.reports):
            at = START + outage.start + outage.spread * rng.betavariate(1.2, 2.5)
            french, template = _words(rng, outage.says)
            day.append(SimMessage(at, everyone[who], _message(rng, outage.says, who, french=french, template=template),
                                  outage.name))
    weights = [w for w, _ in BACKGROUND]
    kinds = [k for _, k in BACKGROUND]
    lately: dict[str, list[dt.datetime]] = {}  # a symptom -> when the background last said it
    for at in sorted(START + _arrival(rng) for _ in range(messages - len(day))):
        while True:
            kind = rng.choices(kinds, weights)[0]
            french, template = _words(rng, kind)
            symptom = kind.symptom(template)
            used = [t for t in lately.get(symptom, []) if t > at - UNRELATED_WINDOW]
            if kind.small_talk or len(used) < 2:
                break
        lately[symptom] = [*used, at]
        who = rng.randrange(people)
        day.append(SimMessage(at, everyone[who], _message(rng, kind, who, french=french, template=template), None))
    return sorted(day, key=lambda m: m.at)
