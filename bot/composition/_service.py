"""The service ``deskbot serve`` runs, put together in one place from a ``Deskbot`` and the channel registry:
the end-to-end tests build theirs with the same ``build_service``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.composition._channels import CHANNELS, ChannelState
from bot.composition._deskbot import Deskbot

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from bot.conversation import ChannelAdapter
    from bot.dispatcher import Dispatcher
    from bot.worker import Pipeline


@dataclass(frozen=True)
class Service:
    """The HTTP app, the channels that run (by their adapter's name) and the bot behind them.

    ``pipeline`` is None when the NLP could not load (no model trained, no KB index): then only the HTTP
    app runs (health, the API) and every channel says so."""

    deskbot: Deskbot
    app: "FastAPI"
    channels: list[ChannelState]
    adapters: dict[str, "ChannelAdapter"]
    pipeline: "Pipeline | None"
    bot: str  # what start-up says of the bot: its model and KB, or why it is off

    def startup_lines(self, host: str, port: int) -> list[str]:
        """What ``deskbot serve`` prints (Rich markup): the bot, the HTTP app, then every channel of the registry."""
        kb = f", knowledge base at http://{host}:{port}/kb" if self.pipeline is not None else ""
        return [f"  Bot: {self.bot}",
                f"[bold]deskbot[/bold] on http://{host}:{port}  "
                f"(database: {self.deskbot.engine.url.render_as_string()})",
                f"  HTTP app: on, health at http://{host}:{port}/health{kb}",
                *(f"  {state}" for state in self.channels)]

    def dispatcher(self, name: str) -> "Dispatcher":
        """The outbox's dispatcher of one running channel, as ``run`` starts it (for driving it step by step)."""
        from bot.runtime import channel_dispatcher

        assert self.pipeline is not None, "the bot is off"
        return channel_dispatcher(self.pipeline, name, self.adapters[name])

    async def run(self, server: "uvicorn.Server", *, worker_processes: int = 0) -> None:
        """HTTP, the channels, workers, dispatchers and monitors until ``server`` stops (see ``run_service``);
        ``worker_processes``: how many ``deskbot worker`` children handle the messages (0: a thread of this
        process, with this process's NLP, as tests that hand over their own analyzer need)."""
        from bot.runtime import run_service

        await run_service(server, self.pipeline, self.adapters, worker_processes=worker_processes)


def build_service(deskbot: Deskbot) -> Service:
    from bot.console import console_router
    from bot.http import create_app
    from bot.kb_pages import kb_router
    from bot.knowledge import DeskArticles
    from bot.retraining import Retraining
    from nlp import ModelError

    channels = [entry.state(deskbot.settings) for entry in CHANNELS]
    published = DeskArticles(deskbot.uow)  # the pages read the desk: they need no NLP in this process
    routers, adapters, body_limits = [kb_router(articles=published, viewed=published.viewed)], {}, {}
    try:
        pipeline = deskbot.pipeline  # loads the active model and the KB index
    except (ModelError, FileNotFoundError) as exc:
        pipeline = None
        channels = [ChannelState(c.name, False, "the bot is off") if c.on else c for c in channels]
        bot = f"off, {exc}"
    else:
        for entry, state in zip(CHANNELS, channels):
            if state.on and entry.build is not None:
                built = entry.build(deskbot)
                adapters[built.adapter.name] = built.adapter
                if built.router is not None:
                    routers.append(built.router)
                body_limits.update(built.body_limits)
        bot = f"on, model {deskbot.analyzer.model_version}, {len(deskbot.analyzer.kb)} KB sections"
    analyzer = (lambda: deskbot.analyzer) if pipeline is not None else (lambda: None)
    routers.append(console_router(uow=deskbot.uow, analyzer=analyzer, kb_url=deskbot.bot_settings().kb_url,
                                  retraining=Retraining.from_settings(deskbot.settings), registry=deskbot.registry))
    app = create_app(deskbot=deskbot, channels=channels, routers=routers, analyzer=analyzer, body_limits=body_limits)
    return Service(deskbot=deskbot, app=app, channels=channels, adapters=adapters, pipeline=pipeline, bot=bot)
