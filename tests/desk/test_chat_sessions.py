"""Chat sessions in the desk (``desk.chat_sessions``), SQLite and PostgreSQL: expiry, replies, offers, cleaning."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from desk import chat_sessions
from desk.access_models import ChatOffer, ChatReply, ChatSession
from desk.chat_sessions import Ended, Expiry, Offer

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
EXPIRY = Expiry(idle=dt.timedelta(hours=2), unverified_idle=dt.timedelta(minutes=30), lifetime=dt.timedelta(hours=12))


def _open(uow, digest: str = "d" * 64, address: str = "wc-1") -> int:
    with uow() as s:
        return chat_sessions.open_session(session=s, channel="chat", digest=digest, address=address, now=T0,
                                          expiry=EXPIRY).id


def _verify(uow, session_id: int, digest: str, at: dt.datetime = T0) -> None:
    with uow() as s:
        chat_sessions.record_code(session=s, session_id=session_id, external_id="chat:ann@corp.example",
                                  email="ann@corp.example", now=at, window=dt.timedelta(minutes=10))
        assert chat_sessions.mark_verified(session=s, session_id=session_id, external_id="chat:ann@corp.example",
                                           email="ann@corp.example", digest=digest, now=at, expiry=EXPIRY)


def test_a_session_is_found_by_its_digest_until_it_idles_out(uow) -> None:
    session_id = _open(uow)
    with uow() as s:
        assert chat_sessions.find(session=s, digest="e" * 64, now=T0, expiry=EXPIRY).ended is Ended.UNKNOWN
        found = chat_sessions.find(session=s, digest="d" * 64, now=T0 + dt.timedelta(minutes=29), expiry=EXPIRY)
        assert found.state is not None and found.state.id == session_id and not found.state.verified
    with uow() as s:  # used at 09:29, so it lives until 09:59 unverified
        assert chat_sessions.find(session=s, digest="d" * 64, now=T0 + dt.timedelta(minutes=58),
                                  expiry=EXPIRY).state is not None
    with uow() as s:
        late = chat_sessions.find(session=s, digest="d" * 64, now=T0 + dt.timedelta(hours=2), expiry=EXPIRY)
        assert late.state is None and late.ended is Ended.IDLE
    with uow() as s:  # kept, so the next read says why too, until the housekeeping purges it
        again = chat_sessions.find(session=s, digest="d" * 64, now=T0 + dt.timedelta(hours=2), expiry=EXPIRY)
        assert again.ended is Ended.IDLE
        assert chat_sessions.purge_ended(session=s, now=T0 + dt.timedelta(hours=2)) >= 1
    with uow() as s:
        assert s.get(ChatSession, session_id) is None


def test_verification_rotates_the_digest_and_the_lifetime_ends_it_however_active(uow) -> None:
    session_id = _open(uow)
    _verify(uow, session_id, "f" * 64)
    with uow() as s:
        assert chat_sessions.find(session=s, digest="d" * 64, now=T0, expiry=EXPIRY).ended is Ended.UNKNOWN
        assert chat_sessions.mark_verified(session=s, session_id=session_id, external_id="chat:bob@corp.example",
                                           email="bob@corp.example", digest="0" * 64, now=T0, expiry=EXPIRY) is None
    at = T0
    while at + dt.timedelta(minutes=90) < T0 + dt.timedelta(hours=12):  # in use every 90 minutes, under the 2-hour idle timeout
        at += dt.timedelta(minutes=90)
        with uow() as s:
            state = chat_sessions.find(session=s, digest="f" * 64, now=at, expiry=EXPIRY).state
            assert state is not None and state.verified and state.email == "ann@corp.example"
    with uow() as s:
        assert chat_sessions.find(session=s, digest="f" * 64, now=T0 + dt.timedelta(hours=12),
                                  expiry=EXPIRY).ended is Ended.LIFETIME


def test_replies_are_numbered_per_session_and_only_the_newest_are_kept(uow) -> None:
    first, second = _open(uow), _open(uow, digest="a" * 64, address="wc-2")
    with uow() as s:
        numbers = [chat_sessions.add_reply(session=s, channel="chat", address="wc-1", payload=f"r{n}", offers=(),
                                           now=T0, keep=3) for n in range(1, 6)]
        assert chat_sessions.add_reply(session=s, channel="chat", address="wc-2", payload="other", offers=(), now=T0,
                                       keep=3) == 1
        assert chat_sessions.add_reply(session=s, channel="chat", address="wc-none", payload="x", offers=(), now=T0,
                                       keep=3) is None
        assert chat_sessions.add_reply(session=s, channel="other", address="wc-1", payload="x", offers=(), now=T0,
                                       keep=3) is None
    assert numbers == [1, 2, 3, 4, 5]
    with uow() as s:
        waiting = chat_sessions.replies_after(session=s, session_id=first, after=0, now=T0)
        assert waiting.live and waiting.replies == ((3, "r3"), (4, "r4"), (5, "r5"))
        assert chat_sessions.replies_after(session=s, session_id=first, after=4, now=T0).replies == ((5, "r5"),)
        assert chat_sessions.replies_after(session=s, session_id=second, after=0, now=T0).replies == ((1, "other"),)
        assert not chat_sessions.replies_after(session=s, session_id=first, after=0,
                                               now=T0 + dt.timedelta(hours=1)).live  # unverified: idle after 30 min


def test_offered_buttons_map_a_click_back_to_the_newest_label(uow) -> None:
    session_id = _open(uow)
    with uow() as s:
        chat_sessions.add_reply(session=s, channel="chat", address="wc-1", payload="p", now=T0, keep=10,
                                offers=[Offer("yes", "Yes, solved"), Offer("no", "No")])
        chat_sessions.add_reply(session=s, channel="chat", address="wc-1", payload="p", now=T0 + dt.timedelta(seconds=1),
                                keep=10, offers=[Offer(f"v{n}", f"label {n}") for n in range(70)] + [Offer("no", "Nope")])
    with uow() as s:
        assert chat_sessions.offered_label(session=s, session_id=session_id, value="no") == "Nope"
        assert chat_sessions.offered_label(session=s, session_id=session_id, value="never") is None
        assert s.scalar(select(func.count()).select_from(ChatOffer)) == chat_sessions.MAX_OFFERS


def test_purging_removes_ended_sessions_with_their_replies_and_offers(uow) -> None:
    ended, live = _open(uow), _open(uow, digest="a" * 64, address="wc-2")
    _verify(uow, live, "b" * 64, at=T0 + dt.timedelta(minutes=20))
    with uow() as s:
        for address in ("wc-1", "wc-2"):
            chat_sessions.add_reply(session=s, channel="chat", address=address, payload="p", now=T0, keep=10,
                                    offers=[Offer("yes", "Yes")])
    with uow() as s:
        assert chat_sessions.purge_ended(session=s, now=T0 + dt.timedelta(minutes=45)) == 1
    with uow() as s:
        assert [r.id for r in s.scalars(select(ChatSession))] == [live]
        assert {r.session_id for r in s.scalars(select(ChatReply))} == {live}
        assert {r.session_id for r in s.scalars(select(ChatOffer))} == {live}
    assert ended != live
