"""The email channel: the support address's SMTP server (aiosmtpd) and replies through a relay."""

from channels.email._channel import EmailChannel, reply_subject
from channels.email._parse import ParsedMail, html_to_text, new_text, parse_mail
from channels.email._redact import drop_attachments
from channels.email._relay import Relay
from channels.email._trust import SenderVerification, Verdict, parse_authentication_results

__all__ = ["EmailChannel", "Relay", "ParsedMail", "SenderVerification", "Verdict", "drop_attachments", "html_to_text",
           "new_text", "parse_authentication_results", "parse_mail", "reply_subject"]
