"""The SMTP server's session limits under a real flood of connections on loopback: at most the limit get
a greeting, the rest ``421`` at once, the server keeps answering, and mail flows again afterwards."""

from __future__ import annotations

import asyncio
import smtplib
import time
from email.message import EmailMessage

from bot.conversation import InboundMessage
from channels.email import EmailChannel

SUPPORT = "support@deskbot.example"


async def _open(port: int, client: str) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect from ``client`` (any 127.x.y.z is loopback on Linux) and read the server's first line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(client, 0))
    return await asyncio.wait_for(reader.readline(), timeout=30), reader, writer


async def _flood(port: int, clients: list[str]) -> list[tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]]:
    return list(await asyncio.gather(*(_open(port, c) for c in clients)))


async def _close(sessions: list[tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, _, writer in sessions:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, _, w in sessions), return_exceptions=True)


async def _until_all_closed(channel: EmailChannel) -> None:
    deadline = time.monotonic() + 10
    while channel.sessions_open and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert channel.sessions_open == 0


def _send_one(port: int) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = "ana@corp.example", SUPPORT, "VPN", "<v1@corp>"
    mail.set_content("The VPN drops every ten minutes.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


def test_500_concurrent_sessions_at_most_the_limit_are_greeted_and_the_rest_get_421() -> None:
    received: list[InboundMessage] = []

    async def on_message(message: InboundMessage) -> bool:
        received.append(message)
        return True

    async def scenario() -> None:
        channel = EmailChannel(host="127.0.0.1", port=0, addresses=(SUPPORT,), max_bytes=100_000,
                               max_sessions=100, max_sessions_per_client=500)
        await channel.start(on_message)
        try:
            started = time.monotonic()
            sessions = await _flood(channel.port, [f"127.0.{i % 5}.{1 + i % 200}" for i in range(500)])
            flood_seconds = time.monotonic() - started
            greeted = [s for s in sessions if s[0].startswith(b"220 ")]
            refused = [s for s in sessions if s[0] == b"421 4.7.0 too many connections, try again later\r\n"]
            assert (len(greeted), len(refused)) == (100, 400)
            for _, reader, _ in refused:  # closed by the server right after the 421
                assert await asyncio.wait_for(reader.read(), timeout=5) == b""
            assert flood_seconds < 20  # generous: the machine is shared; it is about a second

            # Full, the server still answers the sessions it holds, at once.
            _, reader, writer = greeted[0]
            asked = time.monotonic()
            writer.write(b"NOOP\r\n")
            assert (await asyncio.wait_for(reader.readline(), timeout=5)).startswith(b"250")
            assert time.monotonic() - asked < 2

            await _close(sessions)
            await _until_all_closed(channel)
            await asyncio.to_thread(_send_one, channel.port)  # an ordinary client gets through again
            assert [m.key for m in received] == ["email:v1@corp"]
        finally:
            await channel.stop()

    asyncio.run(scenario())


def test_one_client_address_gets_at_most_its_share_while_others_still_get_in() -> None:
    async def on_message(message: InboundMessage) -> bool:
        return True

    async def scenario() -> None:
        channel = EmailChannel(host="127.0.0.1", port=0, addresses=(SUPPORT,), max_bytes=100_000,
                               max_sessions=100, max_sessions_per_client=10)
        await channel.start(on_message)
        try:
            hog = await _flood(channel.port, ["127.0.0.1"] * 30)
            assert sorted(line[:4] for line, _, _ in hog) == [b"220 "] * 10 + [b"421 "] * 20
            other = await _flood(channel.port, ["127.0.0.2"])
            assert other[0][0].startswith(b"220 ")
            await _close(hog + other)
            await _until_all_closed(channel)
            again = await _flood(channel.port, ["127.0.0.1"])  # its sessions closed: its share is free again
            assert again[0][0].startswith(b"220 ")
            await _close(again)
        finally:
            await channel.stop()

    asyncio.run(scenario())
