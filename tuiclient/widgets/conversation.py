"""The open conversation's widgets, by their old address.

Each lives in a module of its own now: the timeline (`timeline`), the email view
(`email_view`), the response cards (`response_cards`), the reply line
(`reply_bar`) and the panes that hold them (`thread_pane`). Imports from here
keep working.
"""

from __future__ import annotations

from tuiclient.widgets.email_view import EmailView
from tuiclient.widgets.reply_bar import ChatReply
from tuiclient.widgets.response_cards import ReplyTo, ResponseCard, ResponseCards
from tuiclient.widgets.thread_pane import ChatView, ConversationPane
from tuiclient.widgets.timeline import Chosen, Timeline, message_text, opening

__all__ = ["ChatReply", "ChatView", "Chosen", "ConversationPane", "EmailView", "ReplyTo",
           "ResponseCard", "ResponseCards", "Timeline", "message_text", "opening"]
