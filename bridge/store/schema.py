"""The store's schema, as a list of migrations from version 1 on.

`PRAGMA user_version` holds how many migrations a database has had. A migration is
never edited once released: changes are new entries at the end. The pending ones
are applied in one transaction together with the version bumps, so a crash leaves
the database at the old version or the new one, never between.

Over 600 lines for a reason: the migrations are the store's history, each kept
as released and read in order; cutting the list across modules would hide that
order.

A migration is SQL text (several statements are fine, triggers included) or a
callable that gets the connection inside the open transaction; a callable must not
use `executescript`, which would commit that transaction early.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Migration = str | Callable[[sqlite3.Connection], None]


class StoreError(Exception):
    """Base class of the store's own errors."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer tuiclient than this one."""


_V1 = """
CREATE TABLE accounts (
    name    TEXT PRIMARY KEY,
    email   TEXT,
    jid     TEXT,
    created REAL NOT NULL
);

CREATE TABLE folders (
    account       TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE ON UPDATE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT,              -- RFC 6154 special use: inbox, sent, drafts, ...
    uidvalidity   INTEGER,
    uidnext       INTEGER,
    highestmodseq INTEGER,
    unread        INTEGER,           -- as the server last reported (STATUS UNSEEN)
    total         INTEGER,
    PRIMARY KEY (account, name)
);

CREATE TABLE threads (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE ON UPDATE CASCADE,
    thread_id     TEXT NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    subject_date  REAL,              -- date of the message the subject came from
    first_date    REAL NOT NULL,
    last_date     REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    unread_count  INTEGER NOT NULL DEFAULT 0,
    last_sender   TEXT NOT NULL DEFAULT '',
    snippet       TEXT NOT NULL DEFAULT '',
    transports    INTEGER NOT NULL DEFAULT 0,  -- bit 1 email, bit 2 xmpp
    UNIQUE (account, thread_id)
);
CREATE INDEX threads_by_last ON threads (last_date, id);
CREATE INDEX threads_by_account_last ON threads (account, last_date, id);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account           TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE ON UPDATE CASCADE,
    msg_id            TEXT NOT NULL,
    transport         TEXT NOT NULL CHECK (transport IN ('email', 'xmpp')),
    direction         TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    thread_id         TEXT NOT NULL,
    date              REAL NOT NULL,
    sender_address    TEXT NOT NULL,
    sender_name       TEXT NOT NULL DEFAULT '',
    subject           TEXT NOT NULL DEFAULT '',
    body              TEXT NOT NULL DEFAULT '',
    search_parties    TEXT NOT NULL DEFAULT '',  -- names and addresses, for messages_fts
    folder            TEXT,
    uid               INTEGER,
    message_id_header TEXT,
    in_reply_to       TEXT,
    refs              TEXT NOT NULL DEFAULT '[]',
    stanza_id         TEXT,
    origin_id         TEXT,
    flags             TEXT NOT NULL DEFAULT '[]',
    unread            INTEGER NOT NULL DEFAULT 0,
    delivery          TEXT,
    malformed         INTEGER NOT NULL DEFAULT 0,
    raw               BLOB,
    UNIQUE (account, msg_id),
    FOREIGN KEY (account, folder) REFERENCES folders (account, name)
        ON DELETE CASCADE ON UPDATE CASCADE
);
-- NULL folder/uid (chat lines) never collide, so one index serves email only.
CREATE UNIQUE INDEX messages_by_uid ON messages (account, folder, uid);
CREATE INDEX messages_by_folder_date ON messages (account, folder, date, id);
CREATE INDEX messages_by_thread_date ON messages (thread_id, date, id);
CREATE INDEX messages_by_header ON messages (message_id_header)
    WHERE message_id_header IS NOT NULL;
CREATE INDEX messages_by_stanza_id ON messages (stanza_id) WHERE stanza_id IS NOT NULL;
CREATE INDEX messages_by_origin_id ON messages (origin_id) WHERE origin_id IS NOT NULL;

CREATE TABLE message_parties (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,     -- 0 is the sender
    role       TEXT NOT NULL,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE INDEX message_parties_by_address ON message_parties (address COLLATE NOCASE);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT,
    part_id      TEXT,
    url          TEXT
);
CREATE INDEX attachments_by_message ON attachments (message_id, position);
CREATE INDEX attachments_by_sha256 ON attachments (sha256) WHERE sha256 IS NOT NULL;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    subject, body, search_parties,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, subject, body, search_parties)
    VALUES (new.id, new.subject, new.body, new.search_parties);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body, search_parties)
    VALUES ('delete', old.id, old.subject, old.body, old.search_parties);
END;
-- Only text changes touch the index: flag and delivery updates stay cheap.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body, search_parties
ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body, search_parties)
    VALUES ('delete', old.id, old.subject, old.body, old.search_parties);
    INSERT INTO messages_fts (rowid, subject, body, search_parties)
    VALUES (new.id, new.subject, new.body, new.search_parties);
END;

CREATE TABLE contacts (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);

CREATE TABLE contact_addresses (
    address    TEXT PRIMARY KEY,     -- lowercase; JIDs bare
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'jid')),
    source     TEXT NOT NULL CHECK (source IN ('config', 'rule', 'learned')),
    confirmed  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX contact_addresses_by_contact ON contact_addresses (contact_id);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id       TEXT NOT NULL,
    account      TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE ON UPDATE CASCADE,
    transport    TEXT NOT NULL CHECK (transport IN ('email', 'xmpp')),
    state        TEXT NOT NULL,
    payload      TEXT NOT NULL DEFAULT '{}',
    parties      TEXT NOT NULL DEFAULT '[]',
    created      REAL NOT NULL,
    updated      REAL NOT NULL,
    next_attempt REAL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_state ON outbox (state, next_attempt);
CREATE INDEX outbox_by_msg_id ON outbox (msg_id);
CREATE INDEX outbox_by_account ON outbox (account);

CREATE TABLE outbox_log (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    at        REAL NOT NULL,
    event     TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_log_by_item ON outbox_log (outbox_id, id);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_at ON events (at);
"""

# Version 2: full-text indexing may lag behind a bulk import. A cold sync of a
# large mailbox writes its header rows with `indexed = 0` and the index catches up
# in the background (`Store.index_backlog`); per-row FTS triggers made the import
# several times slower. The triggers only touch rows that are in the index.
_V2 = """
ALTER TABLE messages ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1;
-- What the header said (multipart/mixed) before the body is fetched.
ALTER TABLE messages ADD COLUMN has_attachment INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_unindexed ON messages (id) WHERE indexed = 0;

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;

-- Where each email is on the server. One message can sit in several folders (a
-- copy in Archive and in INBOX); sync diffs against these rows, while `messages`
-- keeps the one logical message that both transports share.
CREATE TABLE mail_locations (
    account TEXT NOT NULL,
    folder  TEXT NOT NULL,
    uid     INTEGER NOT NULL,
    message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (account, folder, uid),
    FOREIGN KEY (account, folder) REFERENCES folders (account, name)
        ON DELETE CASCADE ON UPDATE CASCADE
) WITHOUT ROWID;
CREATE INDEX mail_locations_by_message ON mail_locations (message);
INSERT INTO mail_locations (account, folder, uid, message)
    SELECT account, folder, uid, id FROM messages WHERE folder IS NOT NULL AND uid IS NOT NULL;

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.indexed = 1 BEGIN
    INSERT INTO messages_fts (rowid, subject, body, search_parties)
    VALUES (new.id, new.subject, new.body, new.search_parties);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.indexed = 1 BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body, search_parties)
    VALUES ('delete', old.id, old.subject, old.body, old.search_parties);
END;
CREATE TRIGGER messages_fts_update_old AFTER UPDATE OF subject, body, search_parties
ON messages WHEN old.indexed = 1 BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body, search_parties)
    VALUES ('delete', old.id, old.subject, old.body, old.search_parties);
END;
CREATE TRIGGER messages_fts_update_new AFTER UPDATE OF subject, body, search_parties
ON messages WHEN new.indexed = 1 BEGIN
    INSERT INTO messages_fts (rowid, subject, body, search_parties)
    VALUES (new.id, new.subject, new.body, new.search_parties);
END;
"""

# Version 3: a bulk header import defers a message's party rows too. The header
# row keeps its recipients as JSON ([[role, address, name], ...]) in
# `pending_parties` until `Store.index_backlog` writes them to message_parties
# (with the sender, from the row) and clears the column. Rows waiting for the
# backlog are found through `index_backlog`, ranges of row ids handed out by
# imports, instead of a partial index on `indexed` that every insert had to
# update; a range may also cover rows that are indexed already.
_V3 = """
ALTER TABLE messages ADD COLUMN pending_parties TEXT;
CREATE TABLE index_backlog (
    first INTEGER NOT NULL,
    last  INTEGER NOT NULL
);
INSERT INTO index_backlog (first, last)
    SELECT min(id), max(id) FROM messages WHERE indexed = 0 HAVING count(*) > 0;
DROP INDEX messages_unindexed;
"""

# Version 4: an address can be an email address and a JID at once (a server that
# serves both, confirmed by the user): kind 'both'. SQLite cannot change a CHECK
# constraint in place, so the table is rebuilt.
_V4 = """
CREATE TABLE contact_addresses_v4 (
    address    TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'jid', 'both')),
    source     TEXT NOT NULL CHECK (source IN ('config', 'rule', 'learned')),
    confirmed  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO contact_addresses_v4 SELECT address, contact_id, kind, source, confirmed
    FROM contact_addresses;
DROP TABLE contact_addresses;
ALTER TABLE contact_addresses_v4 RENAME TO contact_addresses;
CREATE INDEX contact_addresses_by_contact ON contact_addresses (contact_id);
"""

# Version 5: a chat line keeps the 'id' attribute of the <message> it came in, which
# is what a chat marker (XEP-0333) or a receipt must quote back to its sender; the
# row's msg_id may be our own (a hash when the sender gave no origin-id). And the
# unread messages of an account are indexed, so the folders' unread counts can come
# from the store at every change without reading every message.
_V5 = """
ALTER TABLE messages ADD COLUMN attr_id TEXT;
CREATE INDEX messages_unread ON messages (account) WHERE unread = 1;
"""

# Version 6: fewer index b-trees for every stored email; a cold sync of 100,000
# headers spent most of its time in SQLite, most of it in index upkeep.
# messages_by_uid repeated mail_locations' key: where an email is on the server is
# looked up there (every primary place has its location row), and the writers keep
# a place unique by checking mail_locations first. messages_by_header repeated the
# (account, msg_id) key for nearly every email, whose msg_id is its Message-ID:
# now it holds only the rows where the two differ, and `Store.lookup` asks both.
_V6 = """
DROP INDEX messages_by_uid;
DROP INDEX messages_by_header;
CREATE INDEX messages_by_header ON messages (message_id_header)
    WHERE message_id_header IS NOT NULL AND message_id_header <> msg_id;
"""

# Version 7: an update of a message's text (a body fetched on open) made it
# unsearchable. The index change was two AFTER UPDATE triggers, and SQLite runs
# triggers of one event newest first: the new text went into the index, then the
# 'delete' of the old text took out every word the two shared (the subject). One
# trigger now does both, in order, and the index is rebuilt from the rows that
# should be in it. An email keeps the sha256 of its raw bytes where they were seen
# (`digest`): two emails that share a Message-ID are one message only when their
# bytes are the same. And `body_fetched` says a body was fetched even when it has
# no text (a message over the body limit, an empty one), so opening it again
# does not download it again.
_V7 = """
DROP TRIGGER messages_fts_update_old;
DROP TRIGGER messages_fts_update_new;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body, search_parties
ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body, search_parties)
    SELECT 'delete', old.id, old.subject, old.body, old.search_parties WHERE old.indexed = 1;
    INSERT INTO messages_fts (rowid, subject, body, search_parties)
    SELECT new.id, new.subject, new.body, new.search_parties WHERE new.indexed = 1;
END;
INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
INSERT INTO messages_fts (rowid, subject, body, search_parties)
    SELECT id, subject, body, search_parties FROM messages WHERE indexed = 1;
ALTER TABLE messages ADD COLUMN digest TEXT;
ALTER TABLE messages ADD COLUMN body_fetched INTEGER NOT NULL DEFAULT 0;
"""

# Version 8: an outbox row names the process that holds it (bridge/store/owner.py):
# several processes on one store (the app, `serve`, one-shot commands) claim rows by
# compare-and-set, and only an orphan (its holder gone) is looked at by another.
_V8 = """
ALTER TABLE outbox ADD COLUMN owner TEXT;
"""

# Version 9: chat lines change after they arrive (bridge/store/edits.py). A
# correction (XEP-0308) replaces a line's text: the text it replaced is kept in
# message_revisions, with the id of the stanza that replaced it (so an echo or a
# second copy is applied once), and `edited` says when. A retraction (XEP-0424)
# empties the line (the index follows the body) and says when in `retracted`.
# Reactions (XEP-0444) are one set per person and line, replaced whole. A line is
# found by the id a correction, reaction or retraction quotes: its 'id' attribute.
_V9 = """
ALTER TABLE messages ADD COLUMN edited REAL;
ALTER TABLE messages ADD COLUMN retracted REAL;
CREATE INDEX messages_by_attr_id ON messages (attr_id) WHERE attr_id IS NOT NULL;
CREATE TABLE message_revisions (
    message  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    body     TEXT NOT NULL,      -- the text as it was before this revision
    replaced REAL NOT NULL,      -- when it was replaced
    by_id    TEXT,               -- the id of the correction that replaced it
    PRIMARY KEY (message, position)
) WITHOUT ROWID;
CREATE TABLE reactions (
    message  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    reactor  TEXT NOT NULL,      -- bare JID, or room/nick where the room hides it
    emojis   TEXT NOT NULL,      -- JSON list, in the order sent
    date     REAL NOT NULL,
    PRIMARY KEY (message, reactor)
) WITHOUT ROWID;
"""

# Version 10: `from:` is a substring match on the sender's address or name, which
# no b-tree can answer: it scanned every message (200 ms at 300k). A trigram index
# (FTS5's `trigram` tokenizer, which SQLite uses for LIKE '%...%') over the two
# sender columns answers it from the index. Like messages_fts it only holds rows
# that are `indexed`: a bulk import adds its rows in `Store.index_backlog`, and
# `query.py` looks through the few rows still waiting there by a scan.
_V10 = """
CREATE VIRTUAL TABLE senders_fts USING fts5 (
    sender_address, sender_name,
    content = 'messages', content_rowid = 'id',
    tokenize = 'trigram'
);
INSERT INTO senders_fts (rowid, sender_address, sender_name)
    SELECT id, sender_address, sender_name FROM messages WHERE indexed = 1;
CREATE TRIGGER senders_fts_insert AFTER INSERT ON messages WHEN new.indexed = 1 BEGIN
    INSERT INTO senders_fts (rowid, sender_address, sender_name)
    VALUES (new.id, new.sender_address, new.sender_name);
END;
CREATE TRIGGER senders_fts_delete AFTER DELETE ON messages WHEN old.indexed = 1 BEGIN
    INSERT INTO senders_fts (senders_fts, rowid, sender_address, sender_name)
    VALUES ('delete', old.id, old.sender_address, old.sender_name);
END;
CREATE TRIGGER senders_fts_update_old AFTER UPDATE OF sender_address, sender_name
ON messages WHEN old.indexed = 1 BEGIN
    INSERT INTO senders_fts (senders_fts, rowid, sender_address, sender_name)
    VALUES ('delete', old.id, old.sender_address, old.sender_name);
END;
CREATE TRIGGER senders_fts_update_new AFTER UPDATE OF sender_address, sender_name
ON messages WHEN new.indexed = 1 BEGIN
    INSERT INTO senders_fts (rowid, sender_address, sender_name)
    VALUES (new.id, new.sender_address, new.sender_name);
END;
"""

# Version 11: what the user did to a conversation here, not on any server
# (bridge/store/conversations.py). A chat archived or deleted on this machine is
# out of the lists while nothing newer than `hidden_through` (its last date then)
# came in; a deleted one's lines are gone too, and the row keeps an old line that
# an archive query brings again from showing it. `muted`: no notifications.
_V11 = """
CREATE TABLE conversation_state (
    account        TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE
                                                           ON UPDATE CASCADE,
    thread_id      TEXT NOT NULL,
    hidden_through REAL,
    muted          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, thread_id)
) WITHOUT ROWID;
"""

# Version 12: how a chat line was protected end to end (OMEMO, issue 23), as
# bridge.crypto.status.to_json writes it; NULL for a line in clear and for every
# email (an email's protection is found again each time it is opened).
_V12 = """
ALTER TABLE messages ADD COLUMN crypto TEXT;
"""

# Version 13: a stored message goes into the full-text indexes by the statement
# that stores it (`fts.index_rows`, after each insert's executemany), not by
# per-row AFTER INSERT triggers. Even with a WHEN that is false (a header row
# stored before it is indexed) a row trigger cost a cold sync about a third of
# its messages insert; every insert into messages is in messages.py and
# headers.py. Updates and deletes keep their triggers.
_V13 = """
DROP TRIGGER messages_fts_insert;
DROP TRIGGER senders_fts_insert;
"""

# Version 14: `to:` and `cc:` are substrings of a recipient's address or name,
# which the address index (a b-tree) cannot answer: each search looked through
# every message's party rows (160-370 ms at 100k). Each distinct (address, name)
# of message_parties is kept once in `party_names` (a mailbox of 100,000
# messages has hundreds to thousands), with a trigram index over it: a search
# finds the few matching people there, then their party rows through the
# address index. Stores that write message_parties add their new pairs in the
# same transaction (`fts.index_parties`); a pair whose rows are all gone stays
# (it matches nothing), so deletes need nothing. The address index keeps the
# recipients only (position > 0): every query through it asks for recipients,
# and the sender's row (a copy of two columns of `messages`) was a fifth of its
# entries, each a NOCASE b-tree insert in a cold sync's writer.
_V14 = """
DROP INDEX message_parties_by_address;
CREATE INDEX message_parties_by_address ON message_parties (address COLLATE NOCASE)
    WHERE position > 0;
CREATE TABLE party_names (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    name    TEXT NOT NULL,
    UNIQUE (address, name)
);
CREATE VIRTUAL TABLE party_names_fts USING fts5 (
    address, name,
    content = 'party_names', content_rowid = 'id',
    tokenize = 'trigram'
);
CREATE TRIGGER party_names_fts_insert AFTER INSERT ON party_names BEGIN
    INSERT INTO party_names_fts (rowid, address, name) VALUES (new.id, new.address, new.name);
END;
INSERT INTO party_names (address, name) SELECT DISTINCT address, name FROM message_parties;
"""

# Version 15: messages in date order, whatever their account, folder or
# transport: a search walks them newest first and stops at its page (see
# `search.py`) instead of sorting every match by date.
_V15 = """
CREATE INDEX IF NOT EXISTS messages_by_date ON messages (date);
"""

# Version 16: a party row names its person by number. message_parties held each
# recipient's address and name as text, with a NOCASE index on the address: a
# cold sync of 100,000 headers wrote 350,000 of those index entries, half the
# cost of its party rows. The people are in `party_names` already (schema 14,
# once each, with the trigram index `to:` searches); `message_people` keeps
# (message, position, role, person id) and an integer index on the person,
# recipients only, as the address index was. `message_parties` stays as a view
# of the same rows with their address and name, which reads may use as before;
# inserting into the view stores the person first (the trigger), for the
# writers that store one message at a time; the bulk writers (headers.py) write
# `message_people` directly. A person's address is looked up through
# `party_names_by_address` (NOCASE, one entry a person, not a party row).
# And both full-text indexes are made again without what no query reads, which
# every stored message paid for: `columnsize = 0`, no per-row size record (a
# b-tree insert a row, ~20% of each index's insert; it serves only ranking,
# which no search does). They are filled again from the rows that are indexed.
_V16 = """
CREATE TABLE message_people (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,     -- 0 is the sender
    role       TEXT NOT NULL,
    person     INTEGER NOT NULL,     -- party_names.id
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
INSERT OR IGNORE INTO party_names (address, name)
    SELECT DISTINCT address, name FROM message_parties;
INSERT INTO message_people (message_id, position, role, person)
    SELECT p.message_id, p.position, p.role, n.id FROM message_parties AS p
    JOIN party_names AS n ON n.address = p.address AND n.name = p.name;
DROP TABLE message_parties;
CREATE INDEX message_people_by_person ON message_people (person) WHERE position > 0;
CREATE INDEX party_names_by_address ON party_names (address COLLATE NOCASE);
CREATE VIEW message_parties (message_id, position, role, address, name) AS
    SELECT p.message_id, p.position, p.role, n.address, n.name
    FROM message_people AS p JOIN party_names AS n ON n.id = p.person;
-- No conflict clause of its own for the person: an outer INSERT OR REPLACE would
-- override it and give the person a new id under rows that name the old one.
CREATE TRIGGER message_parties_insert INSTEAD OF INSERT ON message_parties BEGIN
    INSERT INTO party_names (address, name) SELECT new.address, new.name
        WHERE NOT EXISTS (SELECT 1 FROM party_names
                          WHERE address = new.address AND name = new.name);
    INSERT INTO message_people (message_id, position, role, person)
        SELECT new.message_id, new.position, new.role, id FROM party_names
        WHERE address = new.address AND name = new.name;
END;
CREATE TRIGGER message_parties_delete INSTEAD OF DELETE ON message_parties BEGIN
    DELETE FROM message_people WHERE message_id = old.message_id
        AND position = old.position;
END;
DROP TABLE senders_fts;
CREATE VIRTUAL TABLE senders_fts USING fts5 (
    sender_address, sender_name,
    content = 'messages', content_rowid = 'id',
    tokenize = 'trigram', columnsize = 0
);
INSERT INTO senders_fts (rowid, sender_address, sender_name)
    SELECT id, sender_address, sender_name FROM messages WHERE indexed = 1;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    subject, body, search_parties,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
);
INSERT INTO messages_fts (rowid, subject, body, search_parties)
    SELECT id, subject, body, search_parties FROM messages WHERE indexed = 1;
"""


def _v17(conn: sqlite3.Connection) -> None:
    """Version 17: a draft does not move its conversation. A thread row counts
    its drafts (`draft_count`: emails flagged \\Draft, or in the account's
    drafts folder), and its last date, sender and snippet are its newest
    message's that is no draft (a draft's only in a conversation of drafts), as
    mutt and aerc keep postponed mail out of the inbox's order. The rows that
    hold drafts are counted here once (written out, as a migration is never
    edited: bridge/store/threads.py keeps them so from now on)."""
    draft = ("m.transport = 'email' AND (instr(m.flags, '\"\\\\Draft\"') > 0"
             " OR m.folder IN (SELECT f.name FROM folders AS f"
             " WHERE f.account = m.account AND f.role = 'drafts'))")
    conn.execute("ALTER TABLE threads ADD COLUMN draft_count INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE threads SET draft_count = d.n FROM (SELECT m.account, m.thread_id,"
        f" count(*) AS n FROM messages AS m WHERE {draft} GROUP BY m.account,"
        " m.thread_id) AS d WHERE threads.account = d.account"
        " AND threads.thread_id = d.thread_id")
    for row_id, account, thread_id, mail in conn.execute(
            "SELECT id, account, thread_id, message_count > draft_count FROM threads"
            " WHERE draft_count > 0").fetchall():
        newest = conn.execute(
            "SELECT m.date, m.sender_name, m.sender_address, substr(m.body, 1, 640)"
            " FROM messages AS m WHERE m.thread_id = ? AND m.account = ?"
            f"{f' AND NOT ({draft})' if mail else ''} ORDER BY m.date DESC, m.id DESC"
            " LIMIT 1", (thread_id, account)).fetchone()
        if newest is not None:
            conn.execute("UPDATE threads SET last_date = ?, last_sender = ?, snippet = ?"
                         " WHERE id = ?", (newest[0], newest[1] or newest[2],
                                           " ".join(newest[3].split())[:160], row_id))


def _v18(conn: sqlite3.Connection) -> None:
    """Version 18: each message counted once (bridge/store/once.py). Our own email
    in two folders under one Message-ID (a note to self: INBOX and Sent, other
    bytes) is one message, and our digest of earlier messages sent ahead of a
    chat handoff is the peer's, no message of our conversation: the thread rows
    that counted either are counted again here (written out, as a migration is
    never edited)."""
    head = "── Earlier in this conversation"
    carried = ("(m.transport = 'xmpp' AND m.direction = 'out' AND"
               f" substr(coalesce(m.body, ''), 1, {len(head)}) = '{head}')")
    draft_flag = "instr(m.flags, '\"\\\\Draft\"') > 0"
    twin = ("(m.transport = 'email' AND m.direction = 'out' AND m.message_id_header"
            f" IS NOT NULL AND m.msg_id <> m.message_id_header AND NOT {draft_flag})")
    key = (f"CASE WHEN m.transport = 'email' AND m.direction = 'out' AND NOT {draft_flag}"
           " THEN coalesce(m.message_id_header, m.msg_id) ELSE m.msg_id END")
    draft = (f"m.transport = 'email' AND ({draft_flag}"
             " OR m.folder IN (SELECT f.name FROM folders AS f"
             " WHERE f.account = m.account AND f.role = 'drafts'))")
    where = f"FROM messages AS m WHERE m.thread_id = ? AND m.account = ? AND NOT {carried}"
    for account, thread_id in conn.execute(
            f"SELECT DISTINCT m.account, m.thread_id FROM messages AS m WHERE {carried}"
            f" OR {twin}").fetchall():
        count, unread, drafts = conn.execute(
            f"SELECT count(DISTINCT {key}), total(m.unread), total({draft}) {where}",
            (thread_id, account)).fetchone()
        if not count:
            continue
        newest = conn.execute(
            f"SELECT m.date, m.sender_name, m.sender_address, substr(m.body, 1, 640) {where}"
            f"{f' AND NOT coalesce({draft}, 0)' if count > drafts else ''}"
            " ORDER BY m.date DESC, m.id DESC LIMIT 1", (thread_id, account)).fetchone()
        conn.execute(
            "UPDATE threads SET message_count = ?, unread_count = ?, last_date = ?,"
            " last_sender = ?, snippet = ? WHERE account = ? AND thread_id = ?",
            (count, int(unread), newest[0], newest[1] or newest[2],
             " ".join((newest[3] or "").split())[:160], account, thread_id))


MIGRATIONS: list[Migration] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10, _V11,
                               _V12, _V13, _V14, _V15, _V16, _v17, _v18]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def split_statements(script: str) -> list[str]:
    """Cut a script into statements that `execute()` accepts one at a time.

    `executescript` would commit the migration's transaction before running, so
    statements are run one by one instead; `complete_statement` knows that the
    semicolons inside a trigger body or a string do not end the statement.
    """
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer!r}")
    return statements


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> int:
    """Bring the database up to the latest schema and return its version.

    The connection must be in autocommit mode (isolation_level=None). Refuses a
    database whose version is newer than this code knows, before touching it.
    """
    if migrations is None:
        # Looked up at call time so tests can append a migration.
        migrations = MIGRATIONS
    latest = len(migrations)
    version = schema_version(conn)
    if version > latest:
        raise SchemaTooNewError(
            f"the store has schema version {version} but this tuiclient only knows "
            f"up to {latest}: it was written by a newer tuiclient; upgrade, or point "
            f"this one at another data directory"
        )
    if version == latest:
        return version
    # Every pending migration in one transaction (a new store has eleven: one
    # commit, not eleven, which on a busy disk is most of its creation time), the
    # version bumped after each so a callable sees where it stands. A crash or a
    # failing migration leaves the database at the version it had, never between.
    # IMMEDIATE takes the write lock first, so two processes opening the same
    # store at once cannot both apply the same migrations.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)
        while version < latest:
            step = migrations[version]
            if callable(step):
                step(conn)
            else:
                for statement in split_statements(step):
                    conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version:d}")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return version
