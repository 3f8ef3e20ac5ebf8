"""The agent console: server-rendered pages under ``/console`` (Jinja2 templates, one stylesheet, one small script,
all served from this package), thin over the same queries and agent service layer as the REST API."""

from bot.console._pages import CONTENT_SECURITY_POLICY, CSRF_FIELD, PREFIX
from bot.console._routes import console_router

__all__ = ["CONTENT_SECURITY_POLICY", "CSRF_FIELD", "PREFIX", "console_router"]
