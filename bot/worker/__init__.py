"""The worker: claims inbox rows, reads them, carries out the policy's decision, queues the replies.

- ``_pipeline``: ``Pipeline``, accepting into the inbox, claiming and analysing a batch, then one transaction per
  message, the periodic work;
- ``_message``: one message in its transaction (who wrote, where, the policy's view, replies and their limit);
- ``_handlers``: one plain function per policy action, chosen by ``HANDLERS``;
- ``_wording``: every sentence the bot writes to a requester;
- ``_major``: major-incident detection.
"""

from bot.worker._pipeline import AnalysedBatch, ClaimedBatch, Pipeline, worker_name
from bot.worker_settings import BotSettings

__all__ = ["AnalysedBatch", "BotSettings", "ClaimedBatch", "Pipeline", "worker_name"]
