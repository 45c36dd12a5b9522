"""XMPP: the slixmpp client and its plugins.

- `session`: the slixmpp stream with verified TLS and a bounded reconnect backoff;
- `client`: `XmppClient`, what the engine owns (chat, presence, rooms, archive, files);
- `stanzas`: reading hostile message stanzas into plain data;
- `availability`: one availability per contact from its resources' presence;
- `upload`: HTTP File Upload slots and the https transfers;
- `state`: the little the client remembers between runs (archive marks, rooms).
"""
