"""XMPP: the slixmpp client and its plugins."""
