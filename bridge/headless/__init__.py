"""Headless mode: every action of the app as a command, and the rules daemon.

Same engine, same store, same config as the app; nothing here imports Textual.
"""
