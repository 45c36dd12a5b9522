"""The harness's OAuth 2.0 token issuer: signed JWT access tokens, and their check.

Real providers (Google, Microsoft) hand out bearer tokens that the mail servers
check with the provider. Here the harness is the provider: `World` keeps one
HMAC key, writes it where Dovecot's oauth2 passdb looks for it
(`local_validation_key_dict`, `<dir>/<azp>/<alg>/<kid>` = `default/HS256/default`,
base64), and signs tokens with it. Dovecot validates them with its own JWT code;
the SMTP server (smtp_server.py) with `check_token` below, from the same key file.

Hand-written (RFC 7519 HS256, a dozen lines) because the project has no JWT
library and the harness needs only this one algorithm; Dovecot, checking the same
tokens with its own implementation, keeps it honest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

ISSUER = "https://issuer.example.test"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def write_key(path: Path, key: bytes) -> None:
    """The key as Dovecot's dict file wants it: base64, one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base64.b64encode(key).decode("ascii"))


def read_key(path: Path) -> bytes:
    return base64.b64decode(path.read_text().strip())


def make_token(key: bytes, email: str, *, lifetime: float = 3600.0,
               now: float | None = None) -> str:
    """A JWT access token for `email`, valid for `lifetime` seconds (negative: expired)."""
    now = time.time() if now is None else now
    exp = int(now + lifetime)
    claims = {"iss": ISSUER, "sub": email, "email": email, "scope": "mail",
              "iat": min(int(now), exp), "exp": exp}
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(signature)}"


def check_token(key: bytes, token: str, user: str) -> str | None:
    """Why `token` does not let `user` in, or None when it does."""
    parts = token.split(".")
    if len(parts) != 3:
        return "not a JWT"
    header, body, signature = parts
    expected = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64url(signature)):
            return "bad signature"
        if json.loads(_unb64url(header)).get("alg") != "HS256":
            return "unexpected algorithm"
        claims = json.loads(_unb64url(body))
    except (ValueError, UnicodeDecodeError):
        return "malformed"
    if claims.get("iss") != ISSUER:
        return "unknown issuer"
    if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
        return "expired"
    if str(claims.get("email", "")).lower() != user.lower():
        return "token is for another user"
    return None
