"""Plugins of ours, written the way slixmpp writes its own (`BasePlugin`,
`plugin_init`, `plugin_end`, `session_bind`), for what slixmpp lacks or gets
wrong; each module says why it is not slixmpp's. Importing this package registers
them, so a session enables them by name like any other plugin.
"""

from slixmpp.plugins.base import register_plugin

from .mam_pages import MamPages
from .upload_slots import UploadSlots

register_plugin(MamPages)
register_plugin(UploadSlots)

__all__ = ["MamPages", "UploadSlots"]
