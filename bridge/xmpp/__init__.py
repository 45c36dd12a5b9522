"""XMPP: the slixmpp client and its plugins.

- `client`: `XmppClient`, what the engine owns: lifecycle, wiring, roster,
  presence, block list; built on the layers below (see `core`);
- `core`: the session with every plugin it uses, and the shared state;
- `delivery`: sending, acks, receipts, markers, chat states, errors;
- `files`: HTTP upload and downloads of linked files;
- `inbound`: the gate, live messages, carbons, invitations, storing a line;
- `archive`: message archive catch-up, history, the check before a resend;
- `rooms`: multi-user chat;
- `plugins/`: plugins of ours in slixmpp's shape, where slixmpp's do not fit;
- `session`: the slixmpp stream with verified TLS and a bounded reconnect backoff;
- `stanzas`: reading hostile message stanzas into plain data;
- `availability`: one availability per contact from its resources' presence;
- `upload`: HTTP File Upload slots and the https transfers;
- `state`: the little the client remembers between runs (archive marks, rooms).
"""
