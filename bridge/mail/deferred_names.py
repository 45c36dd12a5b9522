"""The names the `Deferred` IMAP folder's copies are known by, apart from the code
that reads and writes them (`deferred.py`), so the outbox can name them without
loading an IMAP library into every process (a `list` or `search` never syncs)."""

DEFERRED_FOLDER = "Deferred"
PLAN_FILE = "tuiclient-deferred.json"
DEFERRED_HEADER = "X-Tuiclient-Deferred"
