"""What the bot decides on labelled messages: the real Analyzer and policy, first message of a new conversation.

    .venv/bin/python bench/decisions.py [FILE.csv ...] [--errors 20]
    .venv/bin/python bench/decisions.py --split val      # where a setting may be chosen

FILE is a CSV with a header ``text,label`` (label: an intent of desk/taxonomy.yaml, or ``oos``); the default is
the held-out set tests/data/heldout/decisions.csv. ``--split val`` (or ``test``) measures instead on that split of
the packaged training data (nlp/data/intents, cut by text hash as ``deskbot nlp train`` cuts it): the model never
trained on it, and unlike the held-out set it may be used to choose a setting (the retrieval floor, say).
The analyzer is the one ``deskbot serve`` uses (the active model version, the KB index, the backend and
thresholds of the settings: DESKBOT_* variables or deskbot.toml), so an admin can measure on a file of their
own tickets. It prints:

- how many messages the bot answers from the KB, answer precision (the article is written for the true intent)
  and self-service coverage (true self-service messages answered with a fitting article);
- security incidents opened: right, false alarms (share of non-security messages) and misses (recall), and how
  many security messages at least got the security question (a yes opens the incident);
- routing: request and incident messages whose ticket gets the true intent (and the true intent's group);
- out-of-scope: recall and precision of the out-of-scope flag, and what the policy does with them;
- the classifier alone: in-scope accuracy (right intent and not flagged out-of-scope) and macro-F1;
- the decisions by the true label's kind.

Nothing here chooses a threshold: it measures what the settings and the model say.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "tests" / "data" / "heldout" / "decisions.csv"


@dataclass(frozen=True)
class Case:
    text: str
    label: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    predicted: str
    confidence: float
    out_of_scope: bool
    action: str
    decision_intent: str | None
    article: str | None


def read_cases(path: Path) -> list[Case]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise SystemExit(f"{path}: the first line must be the header 'text,label' (found {reader.fieldnames})")
        cases = []
        for row in reader:
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or not label:
                raise SystemExit(f"{path}, row ending on line {reader.line_num}: empty text or label")
            cases.append(Case(text, label))
    return cases


def split_cases(part: str) -> list[Case]:
    from nlp.examples import load_intent_examples, split_examples

    return [Case(e.text, e.intent) for e in split_examples(load_intent_examples(ROOT / "nlp" / "data" / "intents"))[part]]


def decide_all(cases: list[Case]) -> tuple[list[Outcome], dict[str, object]]:
    from bot.composition import Deskbot
    from bot.policy import State, decide, reading_of, thresholds_for
    from bot.settings import Settings

    deskbot = Deskbot(Settings())
    bot_settings = deskbot.bot_settings()
    analyzer = deskbot.analyzer
    started = time.perf_counter()
    analyses = analyzer.analyze_many([c.text for c in cases])
    elapsed = time.perf_counter() - started
    outcomes = []
    for case, analysis in zip(cases, analyses):
        decision = decide(reading_of(analysis, text=case.text, articles=analyzer.kb.articles), State(),
                          thresholds_for(analysis, answer_threshold=bot_settings.answer_threshold,
                                         retrieval=bot_settings.retrieval_threshold))
        outcomes.append(Outcome(case, analysis.intent, analysis.confidence, analysis.out_of_scope,
                                decision.action.value, decision.intent, decision.article_id))
    articles = dict(analyzer.kb.articles)
    about = {"model": analyzer.model_version, "backend": deskbot.settings.nlp_backend, "seconds": elapsed,
             "retrieval": bot_settings.retrieval_threshold,
             "answer": bot_settings.answer_threshold or (analyses[0].answer_threshold if analyses else 0.0),
             "articles": articles, "taxonomy": deskbot.taxonomy}
    return outcomes, about


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f} % ({n}/{d})" if d else "  n/a"


def report(path: Path, outcomes: list[Outcome], about: dict, errors: int) -> None:
    from desk.taxonomy import OUT_OF_SCOPE, Kind

    taxonomy, articles = about["taxonomy"], about["articles"]
    unknown = sorted({o.case.label for o in outcomes} - set(taxonomy.intents))
    if unknown:
        raise SystemExit(f"{path}: labels the taxonomy does not know: {', '.join(unknown)}")

    def kind(label: str) -> Kind:
        return taxonomy.intents[label].kind

    def fits(o: Outcome) -> bool:
        article = articles.get(o.article)
        return article is not None and o.case.label in article.intents

    answered = [o for o in outcomes if o.action == "answer_from_kb"]
    self_service = [o for o in outcomes if kind(o.case.label) is Kind.SELF_SERVICE]
    security = [o for o in outcomes if kind(o.case.label) is Kind.SECURITY]
    not_security = [o for o in outcomes if kind(o.case.label) is not Kind.SECURITY]
    alarms = [o for o in outcomes if o.action == "security_incident"]
    routed = [o for o in outcomes if kind(o.case.label) in (Kind.REQUEST, Kind.INCIDENT)]
    oos = [o for o in outcomes if o.case.label == OUT_OF_SCOPE]
    flagged = [o for o in outcomes if o.out_of_scope]
    in_scope = [o for o in outcomes if o.case.label != OUT_OF_SCOPE]

    def group(intent: str | None) -> str | None:
        spec = taxonomy.spec(intent)
        return spec.group if spec else None

    print(f"\n{path} ({len(outcomes)} messages), model {about['model']}, backend {about['backend']}, "
          f"{len(outcomes) / about['seconds']:.0f} messages/s analysed")
    print(f"thresholds: answer confidence {about['answer']:.2f}, retrieval {about['retrieval']:.2f}\n")
    rows = [
        ("answered from the KB", _pct(len(answered), len(outcomes))),
        ("answer precision (article fits the true intent)", _pct(sum(fits(o) for o in answered), len(answered))),
        ("self-service coverage (answered with a fitting article)",
         _pct(sum(o.action == "answer_from_kb" and fits(o) for o in self_service), len(self_service))),
        ("security incidents right", _pct(sum(kind(o.case.label) is Kind.SECURITY for o in alarms), len(alarms))),
        ("security false alarms (of non-security messages)",
         _pct(sum(o.action == "security_incident" for o in not_security), len(not_security))),
        ("security recall (incident opened)", _pct(sum(o.action == "security_incident" for o in security),
                                                   len(security))),
        ("security: incident, or the security question asked",
         _pct(sum(o.action in ("security_incident", "ask_security") for o in security), len(security))),
        ("routing: request/incident ticket with the true intent",
         _pct(sum(o.action == "open_ticket" and o.decision_intent == o.case.label for o in routed), len(routed))),
        ("routing: ... to the true intent's group",
         _pct(sum(o.action == "open_ticket" and group(o.decision_intent) == group(o.case.label) for o in routed),
              len(routed))),
        ("out-of-scope recall (flagged)", _pct(sum(o.out_of_scope for o in oos), len(oos))),
        ("out-of-scope precision", _pct(sum(o.case.label == OUT_OF_SCOPE for o in flagged), len(flagged))),
        ("in-scope accuracy (right intent, not flagged)",
         _pct(sum(o.predicted == o.case.label and not o.out_of_scope for o in in_scope), len(in_scope))),
        ("in-scope macro-F1", f"{macro_f1(in_scope):.3f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")

    print("\ndecisions by the true label's kind:")
    by_kind: dict[Kind, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        by_kind[kind(o.case.label)][o.action] += 1
    for k, counts in by_kind.items():
        total = sum(counts.values())
        print(f"  {k.value:<13} {total:5d}: " + ", ".join(f"{a} {n}" for a, n in counts.most_common()))

    if errors:
        wrong_answers = [o for o in answered if not fits(o)]
        false_alarms = [o for o in not_security if o.action == "security_incident"]
        unanswered = [o for o in self_service if not (o.action == "answer_from_kb" and fits(o))]
        missed_security = [o for o in security if o.action != "security_incident"]
        misrouted = [o for o in routed if not (o.action == "open_ticket" and o.decision_intent == o.case.label)]
        for title, items in (("answers with an article for another intent", wrong_answers),
                             ("false security alarms", false_alarms),
                             ("self-service messages not answered with a fitting article", unanswered),
                             ("security messages without an incident", missed_security),
                             ("request/incident messages not routed to their intent", misrouted),
                             ("out-of-scope messages not flagged", [o for o in oos if not o.out_of_scope])):
            print(f"\n{title} ({len(items)}, first {min(errors, len(items))}):")
            for o in items[:errors]:
                text = " ".join(o.case.text.split())[:90]
                print(f"  [{o.case.label} -> {o.predicted} {o.confidence:.2f}, {o.action} {o.article or ''}] {text}")


def macro_f1(outcomes: list[Outcome]) -> float:
    """Macro-F1 over the true in-scope labels; a message flagged out-of-scope counts as predicted 'oos'."""
    labels = sorted({o.case.label for o in outcomes})
    guessed = ["oos" if o.out_of_scope else o.predicted for o in outcomes]
    scores = []
    for label in labels:
        tp = sum(g == label and o.case.label == label for g, o in zip(guessed, outcomes))
        fp = sum(g == label and o.case.label != label for g, o in zip(guessed, outcomes))
        fn = sum(g != label and o.case.label == label for g, o in zip(guessed, outcomes))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT_FILE])
    parser.add_argument("--errors", type=int, default=10, help="examples of each kind of mistake to print")
    parser.add_argument("--split", choices=("val", "test"),
                        help="measure on this split of the packaged training data instead of FILE")
    args = parser.parse_args(argv)
    if args.split:
        cases = split_cases(args.split)
        outcomes, about = decide_all(cases)
        report(Path(f"training data, {args.split} split"), outcomes, about, args.errors)
        return 0
    for path in args.files:
        if not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            return 2
        cases = read_cases(path)
        outcomes, about = decide_all(cases)
        report(path, outcomes, about, args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
