"""The email channel's security settings: a broken or unsafe set-up stops start-up with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings

DESKBOT = str(Path(sys.executable).with_name("deskbot"))


def deskbot(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    full_env.update({"COLUMNS": "200", **env})
    return subprocess.run([DESKBOT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def garbage_pem(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return path


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DESKBOT_SMTP_TLS_CERT": "/nonexistent/cert.pem"}, "invalid setting DESKBOT_SMTP_TLS_CERT: Path does not point to a file"),
        ({"DESKBOT_SMTP_TLS_CERT": "GARBAGE"}, "not a usable PEM certificate and private key"),
        ({"DESKBOT_SMTP_REQUIRE_STARTTLS": "true"}, "DESKBOT_SMTP_REQUIRE_STARTTLS needs a certificate"),
        ({"DESKBOT_SMTP_AUTH_USERS": "mta:s3cret"}, "SMTP AUTH needs TLS"),
        ({"DESKBOT_SMTP_AUTH_USERS": "mta-s3cret", "DESKBOT_SMTP_AUTH_ALLOW_PLAINTEXT": "true"},
         "DESKBOT_SMTP_AUTH_USERS: an entry is not 'user:password'"),
        ({"DESKBOT_SMTP_AUTH_USERS": " , ", "DESKBOT_SMTP_AUTH_ALLOW_PLAINTEXT": "true"}, "list no user: AUTH would be off"),
        ({"DESKBOT_SMTP_RELAY_STARTTLS": "true", "DESKBOT_SMTP_RELAY_TLS": "true"}, "exclude each other"),
        ({"DESKBOT_SMTP_RELAY_USERNAME": "deskbot"}, "DESKBOT_SMTP_RELAY_USERNAME and DESKBOT_SMTP_RELAY_PASSWORD go together"),
        ({"DESKBOT_SMTP_RELAY_USERNAME": "deskbot", "DESKBOT_SMTP_RELAY_PASSWORD": "pw"}, "the password would cross"),
        ({"DESKBOT_SMTP_RELAY_CA_FILE": "GARBAGE"}, "DESKBOT_SMTP_RELAY_CA_FILE"),
        ({"DESKBOT_SMTP_HOST": "0.0.0.0"}, "reachable from other machines, and without AUTH"),
        ({"DESKBOT_SMTP_TRUSTED_RELAYS": '["10.0.0.300"]'}, "'10.0.0.300' is not an IP address or network"),
        ({"DESKBOT_EMAIL_VERIFICATION": "authentication-results"}, "needs DESKBOT_EMAIL_AUTHSERV_IDS"),
        ({"DESKBOT_EMAIL_VERIFICATION": "authentication-results", "DESKBOT_EMAIL_AUTHSERV_IDS": '["mx.corp.example"]'},
         "needs DESKBOT_SMTP_TRUSTED_RELAYS or SMTP AUTH users"),
        ({"DESKBOT_EMAIL_VERIFICATION": "spf-please"}, "invalid setting DESKBOT_EMAIL_VERIFICATION"),
    ],
)
def test_a_broken_email_security_setting_is_one_line(env: dict[str, str], expected: str, tmp_path: Path,
                                                     garbage_pem: Path) -> None:
    env = {k: str(garbage_pem) if v == "GARBAGE" else v for k, v in env.items()}
    result = deskbot("group", "list", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr  # a password is never echoed


def test_auth_users_from_a_file_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "smtp-users"
    users.write_text("# relays allowed to hand us mail\nmta1:pa ss,with:colons\n\nmta2:x\n")
    monkeypatch.setenv("DESKBOT_SMTP_AUTH_USERS", "mta3:y, mta4:z")
    monkeypatch.setenv("DESKBOT_SMTP_AUTH_USERS_FILE", str(users))
    monkeypatch.setenv("DESKBOT_SMTP_AUTH_ALLOW_PLAINTEXT", "true")
    monkeypatch.setenv("DESKBOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    settings = load_settings()
    assert settings.smtp_auth_credentials() == {"mta3": "y", "mta4": "z", "mta1": "pa ss,with:colons", "mta2": "x"}
    assert "y" not in repr(settings.smtp_auth_users)


def test_the_settings_error_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKBOT_CONFIG", str(tmp_path / "deskbot.toml"))
    (tmp_path / "deskbot.toml").write_text('smtp_relay_tls = true\nsmtp_relay_starttls = true\n')
    with pytest.raises(ConfigError, match="exclude each other"):
        load_settings()


def test_listening_beyond_loopback_needs_auth_or_trusted_relays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKBOT_CONFIG", str(tmp_path / "deskbot.toml"))
    (tmp_path / "deskbot.toml").write_text('smtp_host = "0.0.0.0"\nsmtp_trusted_relays = ["192.0.2.0/24"]\n'
                                           'email_verification = "authentication-results"\n'
                                           'email_authserv_ids = ["mx.corp.example"]\n')
    settings = load_settings()
    assert [str(n) for n in settings.trusted_relay_networks()] == ["192.0.2.0/24"]
    assert settings.company_domains() == frozenset({"deskbot.example"})  # from the support addresses


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_worker_processes_cannot_share_an_in_memory_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DESKBOT_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="DESKBOT_WORKERS=1 with an in-memory SQLite database"):
        load_settings()
    monkeypatch.setenv("DESKBOT_WORKERS", "0")
    assert load_settings().workers == 0
