"""No regular expression applied to user text is super-linear: each gets 100 KB of its own worst case
(the input that makes a backtracking engine try hardest for that pattern) and must finish well under a
second. A last test finds every module-level compiled pattern of bot/, channels/, nlp/ and desk/ by
reflection, so a new one cannot slip in without a worst case here.

Each pattern is run with ``finditer`` over the whole input (a try at every position, which is what
``search``, ``sub`` and ``findall`` cost when nothing matches), except where the code only ever applies
it with ``fullmatch`` to one value; there it runs as the code runs it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot.kb_pages
import bot.knowledge
import bot.policy
import bot.rich_text as rich_text
import bot.console._admin_people as admin_people
import bot.worker._message as worker_message
import bot.worker._names as names
import channels.email._channel as email_channel
import channels.email._parse as email_parse
import channels.slack._markup as slack_markup
import channels.telegram._inbound as telegram_inbound
import channels.telegram._render as telegram_render
import channels.webchat._channel as webchat
import channels.webchat._files as webchat_files
import bot.verification as verification
import desk.business_hours
import nlp.kb
import nlp.sentiment

SIZE = 100_000
LIMIT = 0.5  # seconds; the linear patterns take a few milliseconds


def fill(unit: str, tail: str = "", size: int = SIZE) -> str:
    """``unit`` repeated to about ``size`` characters, then ``tail`` (usually what makes the match fail)."""
    return unit * max(1, (size - len(tail)) // len(unit)) + tail


@dataclass(frozen=True)
class Case:
    name: str
    pattern: re.Pattern[str]
    worst: str
    why: str
    fullmatch_only: bool = False  # the code applies it only with fullmatch

    def run(self) -> None:
        if self.fullmatch_only:
            self.pattern.fullmatch(self.worst)
        else:
            for _ in self.pattern.finditer(self.worst):
                pass


P = email_parse
CASES: list[Case] = [
    # --- mail parsing ---------------------------------------------------------------------------------
    Case("machine senders", P._MACHINE_SENDERS, "noreply+" + fill("a+"),
         "(\\+.*)?@: the .* runs to the end and gives back every character looking for the @"),
    Case("quote start", P._QUOTE_START, fill("On wrote "),
         "'On .{4,200}wrote:': at every 'On', 200 characters taken and given back, 'wrote' found without its ':'"),
    Case("quote start, dashes", P._QUOTE_START, fill("-") + "x",
         "-{2,}\\s*Original: the dash run taken whole then given back one at a time"),
    Case("quote start, underscores", P._QUOTE_START, fill("_", "x"), "_{10,}\\s*$ with the end of line never reached"),
    Case("signature", P._SIGNATURE, fill("Sent from " + "a" * 39 + "! "),
         "[\\w .-]{2,40} then $: forty characters tried and given back at every 'Sent from'"),
    Case("signature, French", P._SIGNATURE, fill("Envoyé de " + "a" * 39 + "\n"), ".{2,40} then $ at every 'Envoyé de'"),
    Case("closing", P._CLOSING, fill("kind regards,"), "anchored: one try; the closing word at every repeat"),
    Case("attribution", P._ATTRIBUTION, fill("Le a écrit On wrote "),
         "two .{4,200} alternatives, each retried at every 'On'/'Le', 'wrote'/'a écrit' without ':'"),
    Case("blank runs", P._BLANK_RUN, fill("\n\nx"), "\\n{3,} started at every pair of newlines and failed"),
    Case("message ids", P._MESSAGE_ID, fill("<a") + "<" + "a" * SIZE,
         "[^<>\\s]+ runs to the end from the last '<' and finds no '>'"),
    Case("C1 controls", P._C1_CONTROL, fill("a"), "a one-character class: one look a character"),
    Case("inline images", P._INLINE_IMAGE, fill("[cid:"),
         "each '[cid:' used to scan to the end for ']' (quadratic); now it stops at the next '['"),
    Case("ticket in the subject", P._SUBJECT_TICKET, fill("[#" + "1" * 20),
         "\\d{3,18} given back from 18 digits at every '[#' with no ']'"),
    Case("a bounce's quoted Message-ID", P._QUOTED_MESSAGE_ID, fill(">> message-id: <" + "a" * 250 + " \n"),
         "anchored at each line's start; [^<>\\s]{1,250} bounded, and the spaces before it stop at '<'"),
    Case("reply prefix", email_channel._REPLY_PREFIX, fill("Re [123456789 "),
         "the optional [n] and spaces tried and dropped at every 'Re' without ':'"),
    Case("ticket tag", email_channel._TICKET_TAG, fill("[#" + "1" * 19), "\\d{1,18} with no ']' at every '[#'"),
    # --- Slack, web chat, KB pages ----------------------------------------------------------------------
    Case("Slack markup", slack_markup._MARKUP, fill("<"),
         "[^<>]*: a '<' ends the try (with [^>]* every '<' scanned to the end: quadratic)"),
    Case("Slack escapes", slack_markup._ENTITY, fill("&am"), "a literal '&' then three short words"),
    Case("web chat client id", webchat._CLIENT_ID, fill("a") + "!", "fullmatch of a bounded class on a long value",
         fullmatch_only=True),
    Case("web chat action", webchat._ACTION, fill("a.") + "!", "as above", fullmatch_only=True),
    Case("web chat code", verification._CODE, fill("1") + "x", "as above", fullmatch_only=True),
    Case("email local part", verification._LOCAL, fill("a.") + ".",
         "[..]+(\\.[..]+)*: the dot is not in the class, so the repeat cannot split a run two ways",
         fullmatch_only=True),
    Case("email domain", verification._DOMAIN, fill("a-a.") + "1",
         "labels (\\.)+ then a TLD that fails: every label given back, each tried as the TLD",
         fullmatch_only=True),
    Case("email domain, one long label", verification._DOMAIN, fill("a-"),
         "[..-]{0,61}[..] on a hyphenated run: at most 61 ways a label, and no dot", fullmatch_only=True),
    Case("KB article ids", bot.kb_pages._ARTICLE_ID, fill("KB-123 KB-1234-a"), "\\d{4} and -[a-z]{2} near misses"),
    # --- policy --------------------------------------------------------------------------------------------
    Case("yes", bot.policy._YES, fill(" ") + "x", "^\\s* taken whole, then every alternative at each give-back"),
    Case("yes, trailing", bot.policy._YES, "yes" + fill(" !.") + "x", "[\\s!.]* after the word runs to the end"),
    Case("no", bot.policy._NO, fill(" ") + "x", "^\\s* then each alternative at every give-back"),
    Case("works now", bot.policy._WORKS_NOW, fill("works no "), "the first words of a phrase at every boundary"),
    Case("scope high", bot.policy._SCOPE_HIGH, fill("whole all "), "whole/all then the second word fails"),
    Case("scope medium", bot.policy._SCOPE_MEDIUM, fill("whole several "), "as above"),
    Case("time pressure", bot.policy._TIME, fill("since right "), "since/right then the second word fails"),
    Case("clearly security", bot.policy._CLEARLY_SECURITY, fill("clicked link entered "),
         "bounded gaps ({0,60}, {0,80}, {0,40}) between the words: at most 180 characters a try"),
    Case("someone else's", bot.policy._SOMEONE_ELSES, fill("my mom de mon "),
         "a fixed list of words after my/our or de/à mon: one word a try"),
    # --- the worker: what the NLP reads of a mail -------------------------------------------------------------
    Case("reply prefixes", worker_message._REPLY_PREFIX, fill("re "), "anchored; each 're' needs its ':'"),
    Case("ticket tags", worker_message._TICKET_TAG, fill("[#1"), "\\d+ then no ']': one digit a try"),
    Case("links", worker_message._LINK, fill("http:/"), "a literal prefix"),
    Case("forward marks", worker_message._FORWARDED, fill("-") + "x",
         "(?<!-)-{2,}: a dash run is tried from its first dash only (without it, from every dash: quadratic)"),
    Case("forward marks in mail", P._FORWARD_START, fill("-") + "x", "as above; applied with match to one line"),
    Case("forwarded headers", P._FORWARD_HEADER, fill("From "), "anchored, applied with match"),
    Case("KB slugs", bot.knowledge._SLUG, fill("a!"), "a class with +: one run"),
    # --- Telegram ----------------------------------------------------------------------------------------------
    Case("Telegram link code", telegram_inbound._CODE, fill(" ") + "1", "applied with fullmatch", fullmatch_only=True),
    Case("Telegram markup tags", telegram_render._TAG, fill("<"),
         "[^<>]*: a '<' ends the try (with [^>]* every '<' scanned to the end: quadratic)"),
    Case("Telegram markup atoms", telegram_render._ATOM, fill("&#a"),
         "a tag, an escape of at most 32 characters, or one character: every try is short"),
    # --- rich text (a reply's Markdown, with quoted user text in it) ------------------------------------------
    Case("bare web addresses", rich_text._BARE_URL, fill("http://"), "a literal prefix, then one class run"),
    Case("Markdown characters to quote", rich_text._INLINE_MARKUP, fill("*"), "a one-character class"),
    Case("Markdown line starts to quote", rich_text._LINE_START_MARKUP, fill("1\n", "1"),
         "anchored at line starts; at most 9 digits a try"),
    Case("Slack formatting characters", rich_text._SLACK_FORMATTING, fill("_"), "a one-character class"),
    # --- NLP -------------------------------------------------------------------------------------------------
    Case("sentiment tokens", nlp.sentiment._TOKEN, fill("a"), "\\w+ over one word of 100 KB"),
    Case("punctuation runs", nlp.sentiment._PUNCT_RUN, fill("!a"), "[!?]{2,} started and failed at every '!'"),
    Case("language words", nlp.kb._WORD, fill("é'"), "a class with +: one run"),
    Case("French accents", nlp.kb._FRENCH_ACCENT, fill("e"), "a one-character class"),
    Case("KB steps heading", nlp.kb.STEPS_HEADING, fill("steps"), "anchored: one try"),
    # --- the new-problem question's answers, major incidents' names, uploads ----------------------------------
    Case("same problem", bot.policy._SAME, fill("the same "), "anchored at the start (no MULTILINE): one try"),
    Case("new problem", bot.policy._NEW, fill("a new "), "anchored at the start (no MULTILINE): one try"),
    Case("error codes", names._CODE, fill("0x1234567 aadsts1234 "), "bounded digits: a near miss at every 0x"),
    Case("HTTP 5xx", names._HTTP, fill("error 50 500 interna "), "bounded \\s* between fixed words"),
    Case("buildings", names._BUILDING, fill("building  "), "\\s+ then one letter or two digits, failing"),
    Case("floors", names._FLOOR, fill("12 th floo third floo "), "fixed words after bounded digits, failing"),
    Case("out of service", names._UNAVAILABLE, fill("connection a b c d e stuck on connectin not "),
         "alternatives of fixed words, the one gap bounded to four words or three characters"),
    Case("title words", names._TITLE_WORD, fill("a./"), "[\\w./-]* runs to the end once per word start"),
    Case("upload type", webchat_files._TYPE, fill("a/"), "bounded classes, fullmatch only",
         fullmatch_only=True),
    # --- configuration (not user text, checked all the same) ---------------------------------------------
    Case("business hours time", desk.business_hours._TIME_RE, fill("1:1 "), "\\d{1,2}:\\d{2} near misses"),
    Case("holiday separators", admin_people._HOLIDAY_SEPARATORS, fill(" ,;", "x"), "one class with +: one run"),
]


_ESCAPES = re.compile(r"\\[a-zA-Z]|\(\?P<\w+>|\(\?<?[!=]|\(\?-?i:|\[[^\]]*\]")
_FIRST_WORD = re.compile(r"[^\W\d_]{2,}")


def _cue_worst(pattern: re.Pattern[str]) -> str:
    """A cue's first literal word at every word boundary (each try gets as far as the word), then long
    runs of spaces, punctuation and word characters after it, for its \\s*, \\W* and \\w* parts."""
    word = _FIRST_WORD.search(_ESCAPES.sub(" ", pattern.pattern)).group(0)
    part = SIZE // 5
    return (fill(word + " ", size=2 * part) + word + " " * part + "x" + "!" * part + word + "a" * part)


CASES += [
    Case(f"sentiment cue {i} ({group})", pattern, _cue_worst(pattern),
         "the cue's own first word repeated, then runs for its quantifiers")
    for i, (group, pattern) in enumerate(nlp.sentiment._WORD_CUES)
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_pattern_is_linear_on_its_worst_input(case: Case) -> None:
    assert len(case.worst) >= SIZE * 0.95
    started = time.perf_counter()
    case.run()
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT, f"{case.name}: {elapsed:.2f} s on {len(case.worst):,} characters ({case.why})"


# --- third-party tokenisers the NLP applies to user text, called as the NLP calls them --------------------


def test_the_tf_idf_and_bm25_tokenisers_are_linear() -> None:
    from nlp.intent import _text_features
    from nlp.kb import _tokenize

    words, chars = (vectorizer for _, vectorizer in _text_features().transformer_list)
    inputs = {"words": fill("a "), "chars": fill("  x"), "bm25": fill("a ")}
    for name, run in (("words", words.build_analyzer()), ("chars", chars.build_analyzer()),
                      ("bm25", lambda text: _tokenize([text]))):
        started = time.perf_counter()
        run(inputs[name])
        elapsed = time.perf_counter() - started
        assert elapsed < 2 * LIMIT, f"{name}: {elapsed:.2f} s"  # Python-level n-gram loops, not only the regex


# --- nothing slips in untested ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _our_modules() -> Iterator[str]:
    for package in ("bot", "channels", "nlp", "desk"):
        yield package
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" not in info.name:  # alembic scripts run only inside alembic
                yield info.name


def _patterns_in(value: object, depth: int = 0) -> Iterator[re.Pattern]:
    if isinstance(value, re.Pattern):
        yield value
    elif isinstance(value, (tuple, list, frozenset, set)) and depth < 3:
        for item in value:
            yield from _patterns_in(item, depth + 1)
    elif isinstance(value, dict) and depth < 3:
        for item in value.values():
            yield from _patterns_in(item, depth + 1)


def test_every_module_level_pattern_has_a_worst_case() -> None:
    covered = {id(c.pattern) for c in CASES}
    missing = []
    for name in _our_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            missing += [f"{name}.{attribute}: {p.pattern[:60]!r}" for p in _patterns_in(value) if id(p) not in covered]
    assert not missing, "patterns without a worst case in tests/test_regex_safety.py:\n" + "\n".join(missing)
