"""The engine's one error for an action it cannot do as asked.

Its own module so that the parts behind the engine (ports, policy) raise the
same error the front ends catch, without importing the engine.
"""

from __future__ import annotations


class EngineError(Exception):
    """An action the engine cannot do as asked; the message says why."""
