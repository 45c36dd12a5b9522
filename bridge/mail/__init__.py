"""Email: IMAP sync and push, SMTP send, MIME and threading."""
