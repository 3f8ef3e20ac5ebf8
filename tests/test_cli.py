"""The ``deskbot`` command as a user runs it: a real process, a real database, a real HTTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from loopback import free_port

DESKBOT = str(Path(sys.executable).with_name("deskbot"))


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    full_env.update({"COLUMNS": "200", **(env or {})})
    result = subprocess.run([DESKBOT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, f"deskbot {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_desk_workflow_from_the_command_line(empty_database_url: str, tmp_path: Path) -> None:
    env = {"DESKBOT_DATABASE_URL": empty_database_url}
    upgrade = run("db", "upgrade", cwd=tmp_path, env=env)
    assert "seeded 11 groups and 28 routing rules" in upgrade.stdout
    assert "up to date" in run("db", "status", cwd=tmp_path, env=env).stdout
    run("group", "add", "Field Services", "--timezone", "Europe/Paris", "--hours", "mon-fri 08:30-12:00,13:00-17:30",
        "--holiday", "2026-12-25", cwd=tmp_path, env=env)
    notify = run("group", "notify", "Field Services", "--slack-channel", "C0FIELD", "--email", "Field@Corp.example",
                 cwd=tmp_path, env=env).stdout
    assert "Slack channel C0FIELD, email field@corp.example" in notify
    groups = run("group", "list", cwd=tmp_path, env=env).stdout
    assert "Field Services" in groups and "Europe/Paris" in groups and "mon-fri 08:30-12:00,13:00-17:30" in groups
    assert "Slack C0FIELD, field@corp.example" in groups
    run("user", "add", "amy", "--email", "amy@corp.example", "--name", "Amy Adams", "--group", "Identity & Access",
        cwd=tmp_path, env=env)
    run("user", "add", "root", "--email", "root@corp.example", "--role", "admin", cwd=tmp_path, env=env)
    users = run("user", "list", cwd=tmp_path, env=env).stdout
    assert "Amy Adams" in users and "Identity & Access" in users and "admin" in users

    opened = run("ticket", "open", "--requester", "bob@corp.example", "--subject", "Need access to SAP",
                 "--intent", "software_access", "--tag", "sap", cwd=tmp_path, env=env).stdout
    assert "opened #1000: service_request P4 for Identity & Access, assigned to amy" in opened
    listing = run("ticket", "list", cwd=tmp_path, env=env).stdout
    assert "1000" in listing and "Need access to SAP" in listing and "amy" in listing

    # Opened after a phone call: the agent's answer goes to the requester's address, signed, with the subject.
    replied = run("ticket", "reply", "1000", "Approved by your manager; SAP access by 3 pm.", "--as", "amy",
                  cwd=tmp_path, env=env).stdout
    assert "#1000: reply queued to email bob@corp.example" in replied
    thread = run("ticket", "show", "1000", cwd=tmp_path, env=env).stdout
    assert "Approved by your manager" in thread
    stranger = run("ticket", "reply", "1000", "hello", "--as", "nobody", cwd=tmp_path, env=env, ok=False)
    assert stranger.returncode == 1 and "nobody" in stranger.stderr and "Traceback" not in stranger.stderr

    run("ticket", "resolve", "1000", cwd=tmp_path, env=env)
    shown = run("ticket", "show", "1000", cwd=tmp_path, env=env).stdout
    assert "resolved" in shown and "sap" in shown and "audit trail" in shown
    assert run("ticket", "list", cwd=tmp_path, env=env).stdout.strip() == "no tickets"

    kpis = run("report", "kpis", cwd=tmp_path, env=env).stdout
    assert "KPIs over 1 ticket(s)" in kpis
    assert "100.0 % (1/1)" in kpis  # SLA compliance: resolved at once, well inside the P4 target

    bad = run("ticket", "status", "1000", "new", cwd=tmp_path, env=env, ok=False)
    assert bad.returncode == 1
    assert "cannot move a ticket from resolved to new" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


@pytest.mark.parametrize(
    ("env", "toml", "expected"),
    [
        ({"DESKBOT_HTTP_PORT": "eighty"}, None, "invalid setting DESKBOT_HTTP_PORT"),
        ({"DESKBOT_TIMEZONE": "Mars/Olympus"}, None, "unknown time zone 'Mars/Olympus'"),
        ({"DESKBOT_WORKING_HOURS": "mon-fri 9 to 5"}, None, "invalid setting DESKBOT_WORKING_HOURS"),
        ({"DESKBOT_DATABASE_URL": "mysql://x"}, None, "unsupported database 'mysql'"),
        ({}, "http_port = \n", "deskbot.toml: not valid TOML"),
        ({}, "colour = 'blue'\n", "deskbot.toml: unknown setting 'colour'"),
        ({}, "http_port = 99999\n", "invalid setting http_port in deskbot.toml"),
        ({"DESKBOT_CONFIG": "/nonexistent/deskbot.toml"}, None, "DESKBOT_CONFIG names /nonexistent/deskbot.toml"),
    ],
)
def test_a_bad_setting_stops_with_one_clear_line(env: dict[str, str], toml: str | None, expected: str, tmp_path: Path) -> None:
    if toml is not None:
        (tmp_path / "deskbot.toml").write_text(toml)
    result = run("group", "list", cwd=tmp_path, env=env, ok=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "var").exists()


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run("ticket", "list", cwd=tmp_path, env={"DESKBOT_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none"}, ok=False)
    assert result.returncode == 1
    assert "database postgresql+psycopg://postgres@127.0.0.1:9/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_mistyped_command_line_gets_the_usage_and_its_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("user", "add", "root", "--admin", cwd=tmp_path, ok=False)
    assert result.returncode == 2
    assert "No such option: --admin" in result.stderr and "Usage: deskbot user add" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", [("db", "upgrade"), ("serve",)])
def test_a_database_password_never_shows(command: tuple[str, ...], tmp_path: Path) -> None:
    unreachable = run(*command, cwd=tmp_path, env={"DESKBOT_DATABASE_URL": "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"},
                      ok=False)
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "database postgresql+psycopg://u:***@127.0.0.1:1/x: " in unreachable.stderr
    assert "s3cret" not in unreachable.stdout + unreachable.stderr
    for bad in ("mysql://u:s3cret@127.0.0.1/x", "postgresql+psycopg://u:s3cret@127.0.0.1:1:2/x"):
        refused = run(*command, cwd=tmp_path, env={"DESKBOT_DATABASE_URL": bad}, ok=False)
        assert refused.returncode == 2 and "invalid setting DESKBOT_DATABASE_URL" in refused.stderr
        assert "s3cret" not in refused.stdout + refused.stderr and "u:***@" in refused.stderr


def test_nlp_train_refuses_labels_outside_the_intent_taxonomy_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text("text,label\nmy vpn is down,vpn_connection\nthe printer jams,printer_jam\n"
                                       "what's for lunch,oos\n")
    result = run("nlp", "train", "--train", "mine.csv", cwd=tmp_path, ok=False)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"deskbot: training label(s) not in the intent taxonomy: printer_jam (add them to "
                     f"{Path(__file__).resolve().parents[1] / 'desk' / 'taxonomy.yaml'}, or fix the labels)"]
    assert not (tmp_path / "var" / "models").exists()  # nothing was trained


def test_serve_answers_health_and_says_which_channels_are_off(tmp_path: Path) -> None:
    run("db", "upgrade", cwd=tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update({"DESKBOT_HTTP_PORT": str(port), "COLUMNS": "200"})
    server = subprocess.Popen([DESKBOT, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                body = response.json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert body is not None, "the server did not answer"
        assert response.status_code == 200
        assert body["database"] == "ok"
        assert body["channels"]["Slack"] == {"on": False, "reason": "DESKBOT_SLACK_BOT_TOKEN not set"}
        assert body["channels"]["Telegram"]["reason"] == "DESKBOT_TELEGRAM_BOT_TOKEN not set"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Application shutdown complete" in output
    assert "Slack: off, DESKBOT_SLACK_BOT_TOKEN not set" in output
    assert "Telegram: off, DESKBOT_TELEGRAM_BOT_TOKEN not set" in output


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run("serve", cwd=tmp_path, ok=False)
    assert result.returncode == 1
    assert "run 'deskbot db upgrade'" in result.stderr


def test_slack_is_on_when_its_tokens_are_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.composition import channel_states, enabled_channels
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("DESKBOT_")]:
        monkeypatch.delenv(name)
    slack = lambda **kw: next(c for c in channel_states(Settings(**kw)) if c.name == "Slack")  # noqa: E731
    assert not slack(slack_bot_token="xoxb-1").on
    http = slack(slack_bot_token="xoxb-1", slack_signing_secret="s", public_url="https://desk.example")
    assert http.on and "https://desk.example/slack/events" in http.reason
    assert not slack(slack_bot_token="xoxb-1", slack_signing_secret="s", slack_socket_mode=True).on
    assert slack(slack_bot_token="xoxb-1", slack_signing_secret="s", slack_socket_mode=True, slack_app_token="xapp-1").on
    assert "slack" in enabled_channels(Settings(slack_bot_token="xoxb-1", slack_signing_secret="s"))
    assert "slack" not in enabled_channels(Settings())


def test_agents_work_a_ticket_from_the_command_line_and_the_audit_names_them(empty_database_url: str,
                                                                            tmp_path: Path) -> None:
    env = {"DESKBOT_DATABASE_URL": empty_database_url}
    run("db", "upgrade", cwd=tmp_path, env=env)
    run("user", "add", "amy", "--email", "amy@corp.example", "--name", "Amy Adams", "--group", "Identity & Access",
        cwd=tmp_path, env=env)
    for subject in ("Need access to SAP", "SAP access please"):
        run("ticket", "open", "--requester", "bob@corp.example", "--subject", subject, "--intent", "software_install",
            cwd=tmp_path, env=env)
    assert "#1000 is P2" in run("ticket", "priority", "1000", "P2", "--as", "amy", cwd=tmp_path, env=env).stdout
    run("ticket", "note", "1000", "asked the SAP team for a licence", "--as", "amy", cwd=tmp_path, env=env)
    corrected = run("ticket", "intent", "1000", "software_access", "--as", "amy", cwd=tmp_path, env=env).stdout
    assert "intent software_access confirmed (the bot read software_install)" in corrected
    merged = run("ticket", "merge", "1001", "--into", "1000", "--as", "amy", cwd=tmp_path, env=env).stdout
    assert "#1001 merged into #1000" in merged
    run("ticket", "resolve", "1000", "--as", "amy", cwd=tmp_path, env=env)
    assert "satisfaction 5/5" in run("ticket", "csat", "1000", "5", cwd=tmp_path, env=env).stdout

    shown = run("ticket", "show", "1000", cwd=tmp_path, env=env).stdout
    for change in ("priority", "confirmed_intent", "merged", "status"):
        assert any(change in line and "user:amy" in line for line in shown.splitlines()), (change, shown)
    assert "asked the SAP team" in shown
    duplicate = run("ticket", "show", "1001", cwd=tmp_path, env=env).stdout
    assert "duplicate" in duplicate and "merged_into" in duplicate

    wrong = run("ticket", "intent", "1000", "sap_stuff", "--as", "amy", cwd=tmp_path, env=env, ok=False)
    assert wrong.returncode == 1 and "unknown intent 'sap_stuff'" in wrong.stderr and "Traceback" not in wrong.stderr
    itself = run("ticket", "merge", "1000", "--into", "1000", cwd=tmp_path, env=env, ok=False)
    assert "cannot be merged into itself" in itself.stderr


def test_the_kb_seed_goes_into_the_desk_and_back_and_the_index_is_built_from_the_desk(empty_database_url: str,
                                                                                     tmp_path: Path) -> None:
    seed = Path(__file__).resolve().parents[1] / "kb_articles"
    env = {"DESKBOT_DATABASE_URL": empty_database_url, "DESKBOT_NLP_BACKEND": "hashing",
           "DESKBOT_DATA_DIR": str(tmp_path / "var")}
    run("db", "upgrade", cwd=tmp_path, env=env)
    empty = run("kb", "reindex", cwd=tmp_path, env=env, ok=False)
    assert empty.returncode == 1 and "run 'deskbot kb import' first" in empty.stderr and "Traceback" not in empty.stderr
    count = len(list(seed.rglob("KB-*.md")))
    assert f"{count} added, 0 changed, 0 unchanged" in run("kb", "import", str(seed), cwd=tmp_path, env=env).stdout
    assert f"0 added, 0 changed, {count} unchanged" in run("kb", "import", str(seed), cwd=tmp_path, env=env).stdout
    indexed = run("kb", "reindex", cwd=tmp_path, env=env).stdout
    assert f"indexed {count} published articles" in indexed and "from the desk" in indexed
    assert "0 embedded now" in run("kb", "reindex", cwd=tmp_path, env=env).stdout  # nothing changed
    assert "KB-0006" in run("kb", "search", "GlobalProtect", cwd=tmp_path, env=env).stdout
    exported = run("kb", "export", str(tmp_path / "out"), cwd=tmp_path, env=env).stdout
    assert f"exported {count} published article(s)" in exported
    assert len(list((tmp_path / "out").rglob("*.md"))) == count
    missing = run("kb", "import", str(tmp_path / "nowhere"), cwd=tmp_path, env=env, ok=False)
    assert missing.returncode != 0 and "is not a folder of articles" in missing.stderr


def test_train_if_missing_trains_once_and_again_when_the_embedder_changed(tmp_path: Path) -> None:
    texts = {"vpn_connection": ["my vpn is down", "vpn keeps dropping", "cannot connect to the vpn", "vpn error 809",
                                "globalprotect vpn fails", "vpn disconnects every hour"],
             "printer_problem": ["the printer jams", "printer is offline", "cannot print anything", "printer error",
                                 "paper jam in the printer", "the printer prints blank pages"]}
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(
        f"{t},{label}\n" for label, items in texts.items() for t in items))
    env = {"DESKBOT_NLP_BACKEND": "hashing", "DESKBOT_DATA_DIR": str(tmp_path / "var")}
    train = ("nlp", "train", "--if-missing", "--train", "train.csv")
    assert "activated: first model" in run(*train, cwd=tmp_path, env=env).stdout
    assert "model v0001 is active; nothing to do" in run(*train, cwd=tmp_path, env=env).stdout
    # as a var/ whose model was trained on torch finds itself on another backend
    metadata = tmp_path / "var" / "models" / "v0001" / "metadata.json"
    metadata.write_text(metadata.read_text().replace('"embedder": "hashing:', '"embedder": "torch:x-'))
    moved = run(*train, cwd=tmp_path, env=env).stdout
    assert "model v0001 was trained on torch:x-" in moved and "training one for it" in moved and "trained v0002" in moved


def test_nlp_evaluate_on_a_closed_set_reports_accuracy_and_says_out_of_scope_was_not_measured(tmp_path: Path) -> None:
    texts = {"vpn_connection": ["my vpn is down", "vpn keeps dropping", "cannot connect to the vpn", "vpn error 809",
                                "globalprotect vpn fails", "vpn disconnects every hour"],
             "printer_problem": ["the printer jams", "printer is offline", "cannot print anything", "printer error",
                                 "paper jam in the printer", "the printer prints blank pages"]}
    rows = [(t, label) for label, items in texts.items() for t in items]
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    (tmp_path / "test.csv").write_text("text,label\nvpn will not connect,vpn_connection\nprinter jammed,printer_problem\n")
    env = {"DESKBOT_NLP_BACKEND": "hashing"}
    result = run("nlp", "evaluate", "--train", "train.csv", "--test", "test.csv", cwd=tmp_path, env=env)
    assert "intent accuracy (in scope)" in result.stdout and "intent macro-F1" in result.stdout
    assert "not measured: a closed set" in result.stdout

    (tmp_path / "bad.csv").write_text("text,label\nmy vpn is down,vpn_connection\n,printer_problem\nhello,\n")
    bad = run("nlp", "evaluate", "--train", "bad.csv", "--test", "test.csv", cwd=tmp_path, env=env, ok=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "2 unusable row(s): line 3: the text is empty; line 4: the label is empty" in bad.stderr
