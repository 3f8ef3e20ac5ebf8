"""Credentials in the desk: argon2id passwords, hashed API tokens, web sessions; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from desk import DeskError, NotFound, UnitOfWork, accounts, people
from desk.models import ApiToken, User, WebSession

PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def alice(uow: UnitOfWork) -> str:
    with uow() as session:
        people.add_user(session=session, username="alice", display_name="Alice", email="alice@corp.example",
                        groups=["Service Desk"])
    return "alice"


def _deactivate(uow: UnitOfWork, username: str) -> None:
    with uow() as session:
        people.get_user(session=session, username=username).active = False


def test_a_password_is_stored_as_argon2id_and_checked(uow: UnitOfWork, alice: str) -> None:
    with uow() as session:
        assert accounts.check_password(session=session, username=alice, password=PASSWORD) is None  # none set yet
        accounts.set_password(session=session, username=alice, password=PASSWORD)
    with uow() as session:
        stored = people.get_user(session=session, username=alice).password_hash
        assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
        assert accounts.check_password(session=session, username=alice, password=PASSWORD).username == alice
        assert accounts.check_password(session=session, username=alice, password=PASSWORD + "!") is None
        with pytest.raises(DeskError, match="at least 12 characters"):
            accounts.set_password(session=session, username=alice, password="short pass")
        with pytest.raises(DeskError, match="at most 1024 characters"):
            accounts.set_password(session=session, username=alice, password="x" * 1025)


def test_an_unknown_user_costs_a_hash_like_a_wrong_password(uow: UnitOfWork, alice: str) -> None:
    with uow() as session:
        accounts.set_password(session=session, username=alice, password=PASSWORD)
        accounts.check_password(session=session, username="warm-up", password="x")  # the dummy hash, made once

    def fastest(username: str) -> float:
        times = []
        for _ in range(2):
            with uow() as session:
                start = time.perf_counter()
                assert accounts.check_password(session=session, username=username, password="wrong password!") is None
                times.append(time.perf_counter() - start)
        return min(times)

    # Without the dummy hash an unknown user is one indexed query (~1 ms) against argon2's ~100+ ms:
    # a generous margin for a shared machine still tells the two apart.
    assert fastest("nobody") > 0.3 * fastest(alice)


def test_a_hash_with_old_parameters_is_rehashed_on_sign_in(uow: UnitOfWork, alice: str) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with uow() as session:
        people.get_user(session=session, username=alice).password_hash = weak
    with uow() as session:
        assert accounts.check_password(session=session, username=alice, password=PASSWORD) is not None
    with uow() as session:
        stored = people.get_user(session=session, username=alice).password_hash
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)


def test_a_token_is_shown_once_stored_hashed_and_notes_its_last_use(uow: UnitOfWork, alice: str) -> None:
    with uow() as session:
        new = accounts.create_token(session=session, username=alice, name="nightly export", now=T0)
    assert new.secret.startswith("dsk_") and len(new.secret) >= 4 + 43
    with uow() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.digest == hashlib.sha256(new.secret.encode()).hexdigest()
        assert new.secret not in (row.digest, row.prefix) and new.secret.startswith(row.prefix)
        assert row.last_used_at is None
        assert accounts.user_for_token(session=session, secret=new.secret, now=T0).username == alice
    for seconds, expected in ((30, T0), (61, T0 + dt.timedelta(seconds=61))):  # written at most once a minute
        with uow() as session:
            accounts.user_for_token(session=session, secret=new.secret, now=T0 + dt.timedelta(seconds=seconds))
        with uow() as session:
            assert session.scalars(select(ApiToken)).one().last_used_at == expected
    with uow() as session:
        assert accounts.user_for_token(session=session, secret=new.secret + "x", now=T0) is None
        assert accounts.user_for_token(session=session, secret="not-a-token", now=T0) is None
        assert [t.name for t in accounts.list_tokens(session=session, username=alice)] == ["nightly export"]
        accounts.revoke_token(session=session, token_id=row.id, now=T0 + dt.timedelta(hours=1))
    with uow() as session:
        assert accounts.user_for_token(session=session, secret=new.secret, now=T0 + dt.timedelta(hours=2)) is None
        assert accounts.list_tokens(session=session)[0].revoked_at == T0 + dt.timedelta(hours=1)
        with pytest.raises(NotFound, match="no API token with id 999"):
            accounts.revoke_token(session=session, token_id=999, now=T0)


def test_a_session_slides_on_while_used_and_ends_idle_expired_or_closed(uow: UnitOfWork, alice: str) -> None:
    idle, lifetime = dt.timedelta(minutes=30), dt.timedelta(hours=2)
    minutes = lambda n: T0 + dt.timedelta(minutes=n)  # noqa: E731
    with uow() as session:
        secret = accounts.open_session(session=session, user=people.get_user(session=session, username=alice),
                                       now=T0, lifetime=lifetime)
        assert hashlib.sha256(secret.encode()).hexdigest() == session.scalars(select(WebSession)).one().digest
    for n in (20, 40, 60, 80, 100):  # used every 20 minutes: 100 minutes, well past the idle timeout
        with uow() as session:
            assert accounts.user_for_session(session=session, secret=secret, now=minutes(n), idle=idle) is not None
    with uow() as session:
        assert accounts.user_for_session(session=session, secret=secret, now=minutes(120), idle=idle) is None  # absolute
        other = accounts.open_session(session=session, user=people.get_user(session=session, username=alice),
                                      now=T0, lifetime=lifetime)
        assert accounts.user_for_session(session=session, secret=other, now=minutes(31), idle=idle) is None  # idle
        third = accounts.open_session(session=session, user=people.get_user(session=session, username=alice),
                                      now=T0, lifetime=lifetime)
        accounts.close_session(session=session, secret=third, now=minutes(1))
        assert accounts.user_for_session(session=session, secret=third, now=minutes(2), idle=idle) is None
        accounts.close_session(session=session, secret="never-was", now=minutes(2))  # no error


def test_an_inactive_user_is_refused_everywhere(uow: UnitOfWork, alice: str) -> None:
    with uow() as session:
        accounts.set_password(session=session, username=alice, password=PASSWORD)
        token = accounts.create_token(session=session, username=alice, name="", now=T0).secret
        web = accounts.open_session(session=session, user=people.get_user(session=session, username=alice), now=T0,
                                    lifetime=dt.timedelta(hours=1))
    _deactivate(uow, alice)
    with uow() as session:
        assert accounts.check_password(session=session, username=alice, password=PASSWORD) is None
        assert accounts.user_for_token(session=session, secret=token, now=T0) is None
        assert accounts.user_for_session(session=session, secret=web, now=T0, idle=dt.timedelta(minutes=5)) is None
        with pytest.raises(DeskError, match="not active"):
            accounts.create_token(session=session, username=alice, name="", now=T0)
        with pytest.raises(DeskError, match="not active"):
            accounts.open_session(session=session, user=people.get_user(session=session, username=alice), now=T0,
                                  lifetime=dt.timedelta(hours=1))


def test_a_requester_has_no_account_to_sign_in_with_or_get_a_token_for(uow: UnitOfWork) -> None:
    # Requesters live in their own table; credentials hang off desk users only, so there is no way to give one.
    with uow() as session:
        people.resolve_requester(session=session, channel="email", external_id="pat@corp.example",
                                 display_name="Pat", email="pat@corp.example", email_verified=True)
    with uow() as session:
        for name in ("pat@corp.example", "Pat"):
            with pytest.raises(NotFound, match="no agent or admin"):
                accounts.create_token(session=session, username=name, name="", now=T0)
            with pytest.raises(NotFound, match="no agent or admin"):
                accounts.set_password(session=session, username=name, password=PASSWORD)
            assert accounts.check_password(session=session, username=name, password=PASSWORD) is None
        assert session.scalars(select(User)).all() == []
