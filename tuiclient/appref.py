"""The running `TuiClientApp`, typed.

Textual types a widget's `app` as any `App`; the screens and replies of this
package only ever run inside a `TuiClientApp` and use its engine, config, clock
and server state. `client_app(node)` says so once, for the type checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode

if TYPE_CHECKING:  # tuiclient.app imports the screens that import this
    from tuiclient.app import TuiClientApp


def client_app(node: DOMNode) -> TuiClientApp:
    return cast("TuiClientApp", node.app)
