"""``deskbot nlp ...`` and ``deskbot kb ...``: what admins run to train models and index the KB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli import _common as common
from bot.cli._common import out

nlp_app = typer.Typer(help="The NLP models: train, evaluate, list, activate, try.", no_args_is_help=True)
kb_app = typer.Typer(help="The knowledge base: import and export the Markdown seed, index and search.",
                     no_args_is_help=True)


@contextmanager
def _progress() -> Iterator:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out, transient=True) as bar:
        def start(label: str, total: int | None):  # noqa: ANN202
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        yield start


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _print_report(report: dict, title: str) -> None:
    i, s, th = report["intent"], report["sentiment"], report["thresholds"]
    table = Table("metric", "value", title=title)
    for label, value in (
        ("intent accuracy (in scope)", _pct(i["accuracy"])), ("intent macro-F1", f"{i['macro_f1']:.3f}"),
        ("out-of-scope precision", _pct(i["oos_precision"])), ("out-of-scope recall", _pct(i["oos_recall"])),
        ("calibration error (ECE)", f"{i['expected_calibration_error']:.3f}"),
        ("answer threshold", f"{th['answer']:.3f} (precision {_pct(i['answer_threshold_precision'])}, "
                             f"coverage {_pct(i['answer_threshold_coverage'])})"),
        ("out-of-scope threshold", f"{th['out_of_scope']:.3f}"),
        ("sentiment accuracy", _pct(s.get("sentiment_accuracy", 0.0))),
        ("sentiment macro-F1", f"{s.get('sentiment_macro_f1', 0.0):.3f}"),
        ("frustrated precision / recall", f"{_pct(s.get('frustrated_precision', 0.0))} / {_pct(s.get('frustrated_recall', 0.0))}"),
        ("test texts", str(i["support"])),
        ("top layer", _top_layer(report.get("top_layer", {}))),
    ):
        table.add_row(label, value)
    out.print(table)
    per = Table("intent", "precision", "recall", "F1", "n", title="per intent (test split)")
    for name, m in sorted(i["per_intent"].items()):
        per.add_row(name, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", str(m["support"]))
    out.print(per)


def _tune(deskbot, flag: bool | None) -> bool | None:  # noqa: ANN001
    """--tune/--no-tune, else the setting; None lets training decide (by the data's size, then on val)."""
    return deskbot.settings.nlp_tune_top_layer if flag is None else flag


def _top_layer(summary: dict) -> str:
    val = summary.get("val_scores")
    on_val = f" (val: tuned {val['tuned']:.3f}, packaged {val['packaged']:.3f})" if val else ""
    if not summary.get("tuned"):
        return "MiniLM as packaged (not tuned)" + on_val
    return f"tuned on {summary['texts']} texts, {summary['epochs']} epochs, {summary['seconds']:.0f} s" + on_val


_TRAIN_FILE = typer.Option("--train", help="Labelled intents (CSV text,label or JSON [[text, label]]; label "
                                             "'oos' = out of scope) instead of the packaged data.")
_VAL_FILE = typer.Option("--val", help="Validation file (thresholds are chosen on it); default: cut from --train.")
_OOS_RECALL = typer.Option("--oos-recall", min=0.01, max=1.0,
                           help="Choose the out-of-scope threshold for this recall on val (default: "
                                "nlp.intent.OOS_RECALL_TARGET, chosen on deskbot's own val).")


def _oos_recall_target(given: float | None) -> float:
    """``--oos-recall``, else the recall deskbot's own training uses (imported here: nlp is heavy to import)."""
    from nlp.intent import OOS_RECALL_TARGET

    return OOS_RECALL_TARGET if given is None else given


_TUNE = typer.Option("--tune/--no-tune", show_default=False,
                     help="Fine-tune MiniLM's top layer on the intents first (default: the nlp_tune_top_layer "
                          "setting; unset, only with at least 50 training texts an intent).")


def _intent_table(report, title: str) -> Table:  # noqa: ANN001
    table = Table("metric", "value", title=title)
    for label, value in (
        ("intent accuracy (in scope)", _pct(report.accuracy)), ("intent macro-F1", f"{report.macro_f1:.3f}"),
        *((("out-of-scope", "not measured: a closed set (no 'oos' texts), trained without the detector"),)
          if report.closed_set else
          (("out-of-scope precision", _pct(report.oos_precision)), ("out-of-scope recall", _pct(report.oos_recall)))),
        ("calibration error (ECE)", f"{report.expected_calibration_error:.3f}"),
        ("test texts", str(report.support)),
    ):
        table.add_row(label, value)
    return table


def _check_labels(deskbot, intents: dict | None, confirmed: list) -> None:  # noqa: ANN001
    """Training labels must be intents of the taxonomy (else the policy could not route what the model says):
    an unknown one stops training with one line; a taxonomy intent without training text is a warning."""
    from nlp import load_intent_examples

    examples = [e for part in intents.values() for e in part] if intents is not None else \
        load_intent_examples(deskbot.nlp_data_dir / "intents")
    labels = {e.intent for e in [*examples, *confirmed]}
    for warning in deskbot.taxonomy.check_training_labels(labels):
        out.print(f"[yellow]warning[/yellow] {warning}", markup=True)


@nlp_app.command("train")
def nlp_train(
    force: Annotated[bool, typer.Option(help="Activate even if it measures worse than the active model.")] = False,
    if_missing: Annotated[bool, typer.Option(help="Only train when no model is active (for set-up).")] = False,
    train: Annotated[Optional[Path], _TRAIN_FILE] = None,
    val: Annotated[Optional[Path], _VAL_FILE] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="Held-out test file; default: cut from --train.")] = None,
    oos_recall: Annotated[Optional[float], _OOS_RECALL] = None,
    tune: Annotated[Optional[bool], _TUNE] = None,
) -> None:
    """Train on the packaged data plus agent-confirmed intents (or on --train FILE); activate if not worse."""
    from desk import tickets
    from nlp import IntentExample, IntentRoles, labelled_splits, raw_throughput, train_and_register

    deskbot = common.deskbot()
    active = deskbot.registry.active_version()
    if if_missing and active is not None:
        made_for = deskbot.registry.get(active).metadata.get("embedder")
        if made_for == deskbot.embedder.model_id:
            out.print(f"model {active} is active; nothing to do")
            return
        # An install moved to another backend (DESKBOT_NLP_BACKEND): the active model cannot read its vectors.
        out.print(f"model {active} was trained on {made_for} embeddings and the embedder is now "
                  f"{deskbot.embedder.model_id}: training one for it")
    if train is None and (val is not None or test is not None):
        raise typer.BadParameter("--val and --test need --train")
    intents = labelled_splits(train, val, test) if train is not None else None
    confirmed: list = []
    if intents is None:  # agent-confirmed labels belong to the packaged taxonomy
        with deskbot.uow() as session:
            confirmed = [IntentExample(t, i) for t, i in tickets.confirmed_intent_examples(session=session)]
    _check_labels(deskbot, intents, confirmed)
    with _progress() as progress:
        result = train_and_register(data_dir=deskbot.nlp_data_dir, embedder=deskbot.embedder,
                                    registry=deskbot.registry, extra=confirmed, intents=intents,
                                    oos_recall_target=_oos_recall_target(oos_recall),
                                    force=force, progress=progress,
                                    tune=_tune(deskbot, tune), roles=IntentRoles(*deskbot.taxonomy.intent_roles()))
    _print_report(result.report, f"model {result.version} on the held-out test split")
    texts = [e.text for e in (intents or {}).get("train", [])] or ["my laptop will not start after the update"] * 64
    raw = raw_throughput(deskbot.embedder, texts)
    out.print(f"wall time {result.wall_seconds:.1f} s; embedded {result.embedding.texts} new text(s) in "
              f"{result.embedding.seconds:.1f} s ({result.embedding.throughput:.0f} sentences/s; the raw model: "
              f"{raw:.0f} sentences/s, {deskbot.settings.nlp_backend}, {deskbot.settings.nlp_threads} thread(s))")
    out.print(f"trained {result.version} with {len(confirmed)} agent-confirmed example(s); report and confusion "
              f"matrix in {result.folder}")
    out.print(f"{'activated' if result.activated else 'NOT activated'}: {result.reason}")
    if not result.activated:
        raise typer.Exit(3)


@nlp_app.command("evaluate")
def nlp_evaluate(
    version: Annotated[Optional[str], typer.Argument(help="Default: the active one.")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="Measure on this labelled file instead of the "
                                                                "packaged held-out split.")] = None,
    train: Annotated[Optional[Path], _TRAIN_FILE] = None,
    val: Annotated[Optional[Path], _VAL_FILE] = None,
    oos_recall: Annotated[Optional[float], _OOS_RECALL] = None,
    tune: Annotated[Optional[bool], _TUNE] = None,
) -> None:
    """Measure a model version (or, with --train, a throwaway model: nothing is activated)."""
    from nlp import evaluate_bundle, evaluate_intents, load_labelled_file, load_training_data

    deskbot = common.deskbot()
    if train is not None or val is not None:
        if test is None or train is None:
            raise typer.BadParameter("--train needs --test (and --val needs --train)")
        with _progress() as progress:
            _, report = evaluate_intents(test=load_labelled_file(test), embedder=deskbot.embedder,
                                         train=load_labelled_file(train),
                                         val=load_labelled_file(val) if val else (),
                                         oos_recall_target=_oos_recall_target(oos_recall),
                                         progress=progress,
                                         tune=_tune(deskbot, tune))
        out.print(_intent_table(report, f"a throwaway model trained on {train.name}, measured on {test.name}"))
        return
    version = version or deskbot.registry.active_version()
    if version is None:
        from nlp import ModelError

        raise ModelError("no active model: run 'deskbot nlp train'")
    bundle = deskbot.registry.load(version)
    if test is not None:
        with _progress() as progress:
            _, report = evaluate_intents(test=load_labelled_file(test), embedder=deskbot.embedder,
                                         model=bundle.intents, progress=progress)
        out.print(_intent_table(report, f"model {version} on {test.name}"))
        return
    with _progress() as progress:
        report = evaluate_bundle(bundle, load_training_data(deskbot.nlp_data_dir), deskbot.embedder, progress)
    _print_report(report, f"model {version} on the held-out test split")


@nlp_app.command("models")
def nlp_models() -> None:
    """List model versions with their metrics."""
    versions = common.deskbot().registry.versions()
    table = Table("version", "active", "created", "data", "top layer", "accuracy", "macro-F1", "OOS recall",
                  "sentiment acc.")
    for v in versions:
        m = v.metrics
        table.add_row(v.version, "*" if v.active else "", v.created, v.data_hash[:8],
                      "tuned" if v.metadata.get("top_layer", {}).get("tuned") else "packaged",
                      _pct(m.get("accuracy", 0)), f"{m.get('macro_f1', 0):.3f}", _pct(m.get("oos_recall", 0)),
                      _pct(m.get("sentiment_accuracy", 0)))
    out.print(table if versions else "no models yet: run 'deskbot nlp train'")


@nlp_app.command("activate")
def nlp_activate(version: str) -> None:
    """Make a version active (also to roll back); running workers pick it up."""
    registry = common.deskbot().registry
    if version not in {v.version for v in registry.versions()}:
        from nlp import ModelError

        raise ModelError(f"no model version {version!r} in {registry.root}")
    registry.activate(version)
    out.print(f"model {version} is active")


@nlp_app.command("analyze")
def nlp_analyze(text: str) -> None:
    """Show what the NLP makes of one message."""
    a = common.deskbot().analyzer.analyze(text)
    out.print(f"intent {a.intent} ({a.confidence:.2f}; answer threshold {a.answer_threshold:.2f}"
              f"{f', routing threshold {a.route_threshold:.2f}' if a.route_threshold is not None else ''})"
              f"{'  OUT OF SCOPE' if a.out_of_scope else ''}")
    out.print(f"sentiment {a.sentiment}, frustration {a.frustration:.2f}{' (frustrated)' if a.frustrated else ''}"
              f"{'; cues: ' + ', '.join(a.cues) if a.cues else ''}; language {a.language}; model {a.model_version}")
    for hit in a.kb_hits[:3]:
        out.print(f"  {hit.article_id} {hit.title} [{hit.section}] {hit.score:.2f}")


@kb_app.command("import")
def kb_import(
    folder: Annotated[Optional[Path], typer.Argument(help="Default: the kb_dir setting (kb_articles/).")] = None,
) -> None:
    """Import Markdown articles into the desk, published. An unchanged file changes nothing; a changed one
    becomes a new version by "import" (a text the desk had before, e.g. after an edit in the console, is skipped)."""
    from bot.knowledge import import_folder

    deskbot = common.deskbot()
    source = folder or deskbot.settings.kb_dir
    if not source.is_dir():
        raise typer.BadParameter(f"{source} is not a folder of articles")
    report = import_folder(uow=deskbot.uow, folder=source)
    out.print(f"imported {source}: {len(report.added)} added, {len(report.changed)} changed, "
              f"{len(report.unchanged)} unchanged")
    for label, ids in (("added", report.added), ("changed", report.changed)):
        if ids:
            out.print(f"  {label}: {', '.join(ids)}")
    for error in report.errors:
        out.print(f"  [yellow]skipped[/yellow] {error}", markup=True)


@kb_app.command("export")
def kb_export(folder: Annotated[Path, typer.Argument(help="Where the Markdown files go (<lang>/<id>-<title>.md).")]) -> None:
    """Write the desk's published articles as Markdown, in the format 'kb import' reads."""
    from bot.knowledge import export_folder

    written = export_folder(uow=common.deskbot().uow, folder=folder)
    out.print(f"exported {len(written)} published article(s) to {folder}")


@kb_app.command("reindex")
def kb_reindex() -> None:
    """Index the desk's published articles (only changed sections are embedded again)."""
    from bot.knowledge import published_articles
    from desk import DeskError, knowledge
    from nlp import index_articles

    deskbot = common.deskbot()
    s = deskbot.settings
    with deskbot.uow() as session:
        stamp = knowledge.published_stamp(session=session)
        articles = published_articles(session=session)
    if stamp is None:
        raise DeskError("the desk has no articles yet: run 'deskbot kb import' first")
    with _progress() as progress:
        _, report = index_articles(articles, s.kb_index_dir, deskbot.embedder, stamp=stamp,
                                   progress=progress("embedding KB sections", None))
    out.print(f"indexed {report.articles} published articles ({report.chunks} sections, {report.embedded} embedded "
              f"now) from the desk into {s.kb_index_dir}")
    for label, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        if ids:
            out.print(f"  {label}: {', '.join(ids)}")


@kb_app.command("search")
def kb_search(
    query: str,
    k: Annotated[int, typer.Option("-k", help="How many articles.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
) -> None:
    """Search the KB as the bot does."""
    from nlp import KbIndex
    from nlp.kb import guess_language

    deskbot = common.deskbot()
    index = KbIndex.load(deskbot.settings.kb_index_dir)
    hits = index.search(query, deskbot.embedder.encode([query])[0], k=k, mode=mode, lang=guess_language(query))
    table = Table("article", "title", "section", "similarity", "snippet")
    for h in hits:
        table.add_row(h.article_id, h.title, h.section, f"{h.score:.2f}", h.snippet[:90])
    out.print(table if hits else "no match")
