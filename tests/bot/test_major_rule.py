"""The major-incident rule's matching (``bot.worker._major.same_cause``), the names it reads (``_names``) and the
systems file (``desk/systems.yaml``). Vectors are set by hand here: what is tested is the rule, not a model."""

from __future__ import annotations

import numpy as np
import pytest

from bot.worker._major import Report, one_cause, same_cause
from bot.worker._names import Namer, product_names
from desk.systems import SystemsError, load_systems, packaged_systems

NAMER = Namer(packaged_systems(), ["Fix common VPN errors (GlobalProtect and Cisco AnyConnect)",
                                   "Add a network printer on Windows 11 or macOS (PaperCut follow-me printing)"])
ALIKE, UNALIKE = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def report(text: str, intent: str = "application_down", vector: np.ndarray = ALIKE, who: int = 1) -> Report:
    return Report(ticket_id=who, requester_id=who, intent=intent, names=NAMER.names(text), vector=vector)


def test_one_intent_and_alike_words_are_not_enough_when_they_name_different_systems() -> None:
    sap, salesforce, teams = (report("SAP is down"), report("the Salesforce login page errors", who=2),
                              report("Teams crashes on start", who=3))
    for a, b in ((sap, salesforce), (sap, teams), (salesforce, teams)):
        assert not same_cause(a, b, similarity=0.5, named_similarity=0.8)


def test_one_error_code_links_reports_whatever_their_intent_and_words() -> None:
    assert same_cause(report("error 0x800CCC0E when sending", "mailbox_full"),
                      report("mails stuck, 0x800ccc0e again", "application_down", UNALIKE, 2),
                      similarity=0.5, named_similarity=0.8)
    assert same_cause(report("sign-in fails with AADSTS50076"),
                      report("AADSTS50076 on the portal", "account_locked", UNALIKE, 2),
                      similarity=0.5, named_similarity=0.8)


def test_one_system_links_reports_that_both_say_it_is_out_or_read_alike() -> None:
    down = report("SAP is down")
    assert same_cause(down, report("cannot log in to sap gui", "website_error", UNALIKE, 2),
                      similarity=0.5, named_similarity=0.8)
    assert same_cause(down, report("SAP ne répond plus", "application_down", UNALIKE, 2),
                      similarity=0.5, named_similarity=0.8)
    # a product name read from a KB title, and an alias from the systems file
    assert same_cause(report("PaperCut release station is dead", "printer_problem"),
                      report("papercut not responding", "website_error", UNALIKE, 2), similarity=0.5,
                      named_similarity=0.8)
    assert same_cause(report("the VPN gateway in Paris is down", "vpn_connection"),
                      report("GlobalProtect stuck on 'Connecting...'", "vpn_connection", UNALIKE, 2),
                      similarity=0.5, named_similarity=0.8)
    # one system's everyday troubles are not one outage, even of one intent, unless their words are alike
    export = report("SAP crashes when I export the stock list to Excel", "application_down", UNALIKE, 2)
    assert not same_cause(down, export, similarity=0.5, named_similarity=0.8)
    assert not same_cause(report("SAP says I'm not authorized for ME21N", "application_down"), export,
                          similarity=0.5, named_similarity=0.8)
    close = report("SAP crashes when I export my invoice list", "software_access", np.array([0.6, 0.8]), 3)
    assert same_cause(export, close, similarity=0.9, named_similarity=0.8)
    assert not same_cause(export, close, similarity=0.9, named_similarity=0.81)


def test_a_new_report_opens_a_problem_only_with_reports_alike_with_each_other() -> None:
    new = report("the VPN keeps dropping", "vpn_connection", np.array([1.0, 0.0]))
    drops = report("my VPN drops every 10 minutes", "vpn_connection", np.array([0.9, 0.436]), 2)
    since = report("VPN disconnects since the update", "vpn_connection", np.array([0.6, 0.8]), 3)
    # alike with the new report (0.6) but not with the others: a star around the new one is not one cause
    slow = report("the VPN is slow at home", "vpn_connection", np.array([0.6, -0.8]), 4)
    unalike = report("how do I install the VPN", "vpn_connection", np.array([0.0, 1.0]), 5)
    kept = one_cause(new, [unalike, slow, since, drops], similarity=0.55, named_similarity=0.8)
    assert [r.ticket_id for r in kept] == [2, 3]


def test_a_place_links_reports_of_one_intent_that_say_it_is_out_and_a_different_place_keeps_them_apart() -> None:
    floor3 = report("printer floor 3 building B is not printing", "printer_problem", UNALIKE)
    assert same_cause(floor3, report("l'imprimante du 3e étage du bâtiment B ne marche plus", "printer_problem",
                                     ALIKE, 2), similarity=0.5, named_similarity=0.8)
    assert same_cause(floor3, report("building B printer is offline", "printer_problem", ALIKE, 2),
                      similarity=0.5, named_similarity=0.8)
    # one building's printers have many troubles a day: toner low is not the floor-3 printer out
    assert not same_cause(floor3, report("the printer in building B says toner low", "printer_problem", ALIKE, 2),
                          similarity=0.5, named_similarity=0.8)
    assert not same_cause(floor3, report("no network on floor 3 of building B", "wifi_connection", UNALIKE, 2),
                          similarity=0.5, named_similarity=0.8)
    same_words = report("printer floor 3 building A is not printing", "printer_problem", UNALIKE, 2)
    assert not same_cause(floor3, same_words, similarity=0.5, named_similarity=0.8)
    assert not same_cause(report("network down in Paris", "network_outage"),
                          report("network down in Lyon", "network_outage", ALIKE, 2),
                          similarity=0.5, named_similarity=0.8)


def test_without_names_one_intent_links_only_texts_at_the_similarity() -> None:
    a = report("the whole office has no network", "network_outage", np.array([1.0, 0.0]))
    close = report("no network at all here", "network_outage", np.array([0.8, 0.6]), 2)
    assert same_cause(a, close, similarity=0.8, named_similarity=0.9)
    assert not same_cause(a, close, similarity=0.81, named_similarity=0.9)
    assert not same_cause(a, report("no network at all here", "wifi_connection", ALIKE, 2), similarity=0.5,
                          named_similarity=0.8)
    # an HTTP server error is a detail of whatever the report is about: it links one intent's reports only
    assert not same_cause(report("the intranet page gives error 500", "website_error", UNALIKE),
                          report("HTTP 500 in Concur", "website_error", ALIKE, 2), similarity=0.5, named_similarity=0.8)
    assert not same_cause(report("this page gives error 500", "website_error", UNALIKE),
                          report("HTTP 500 on every page", "application_down", ALIKE, 2), similarity=0.5,
                          named_similarity=0.8)
    assert same_cause(report("this page gives error 500", "website_error", UNALIKE),
                      report("HTTP 500 on every page", "website_error", ALIKE, 2), similarity=0.9, named_similarity=0.8)


def test_product_names_come_from_kb_titles_but_not_sentence_capitals() -> None:
    assert product_names("Fix common VPN errors (GlobalProtect and Cisco AnyConnect)") == [
        "VPN", "GlobalProtect", "Cisco", "AnyConnect"]
    assert product_names("Reset a forgotten password with Okta self-service") == ["Okta"]
    assert product_names('Wi-Fi keeps dropping or says "No internet"') == ["Wi-Fi"]  # a not_system
    assert product_names("Teams: camera, microphone or screen sharing not working") == ["Teams"]
    # the systems file's not_systems keep generic words of titles out
    assert NAMER.names("Windows is slow and the VPN too").systems == frozenset()


def test_the_packaged_systems_file_reads_and_a_broken_one_names_file_and_line(tmp_path) -> None:  # noqa: ANN001
    assert "SAP" in [s.name for s in packaged_systems().systems]
    broken = tmp_path / "systems.yaml"
    broken.write_text("systems:\n  SAP: [Fiori]\n  Fiori: []\n", encoding="utf-8")
    with pytest.raises(SystemsError, match=r"systems.yaml line 3: system Fiori: 'Fiori' already names SAP"):
        load_systems(broken)
    broken.write_text("systems:\n  SAP: Fiori\n", encoding="utf-8")
    with pytest.raises(SystemsError, match=r"line 2: system SAP must be a list \(may be empty: \[\]\)"):
        load_systems(broken)
    broken.write_text("systems: {}\nplaces: [Paris]\n", encoding="utf-8")
    with pytest.raises(SystemsError, match=r"line 2: unknown key 'places'"):
        load_systems(broken)
    broken.write_text("systems:\n  SAP: [\n", encoding="utf-8")
    with pytest.raises(SystemsError, match=r"systems.yaml line \d+: not valid YAML"):
        load_systems(broken)
