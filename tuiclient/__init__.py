"""The Textual app: email and chat side by side."""
