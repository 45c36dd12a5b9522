"""The SASL messages of a login by OAuth 2.0 bearer token, for SMTP.

IMAP needs none of this: imapclient has `oauth2_login` (XOAUTH2) and
`oauthbearer_login` (OAUTHBEARER), and `connect.open_imap` uses them. smtplib
has `SMTP.auth(mechanism, authobject)` but no bearer mechanism, so the client's
messages of the two mechanisms are written here (a few lines each):

- XOAUTH2 (Google's and Microsoft's documented format, no RFC):
  ``user=<user>^Aauth=Bearer <token>^A^A``. After a refusal the server sends a
  334 challenge holding a JSON error; the client answers with an empty line and
  the server ends the exchange with 535.
- OAUTHBEARER (RFC 7628, section 3.1): a GS2 header (RFC 5801) naming the
  authorization identity, then key=value pairs, each ended by ^A, and a final ^A:
  ``n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A``. In the
  GS2 header "," and "=" in the user are written "=2C" and "=3D". After a refusal
  (section 3.2.2: a 334 with a JSON status) the client sends a single ^A
  (section 3.2.3) and the server answers with its failure.

smtplib base64-encodes what the authobject returns and sends the first message
as the initial response (RFC 4954) of `AUTH <mechanism> <response>`.
"""

from __future__ import annotations

from dataclasses import dataclass

# The config's `auth` values and the SASL mechanism each one names.
SASL_NAMES = {"xoauth2": "XOAUTH2", "oauthbearer": "OAUTHBEARER"}
KVSEP = "\x01"


def xoauth2_response(user: str, token: str) -> str:
    """The client's XOAUTH2 message."""
    return f"user={user}{KVSEP}auth=Bearer {token}{KVSEP}{KVSEP}"


def oauthbearer_response(user: str, token: str, host: str | None = None,
                         port: int | None = None) -> str:
    """The client's OAUTHBEARER initial response (RFC 7628, section 3.1)."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    pairs = []
    if host:
        pairs.append(f"host={host}")
    if port:
        pairs.append(f"port={port}")
    pairs.append(f"auth=Bearer {token}")
    return f"n,a={authzid}," + KVSEP + "".join(p + KVSEP for p in pairs) + KVSEP


@dataclass
class BearerAuth:
    """smtplib's `authobject` for XOAUTH2 and OAUTHBEARER: called without a
    challenge for the initial response, then with each 334 challenge; a bearer
    mechanism has no second step, so a challenge is the server's error report,
    answered as each mechanism says (see the module's docstring). The token is
    not in its repr."""

    mechanism: str  # "xoauth2" | "oauthbearer"
    user: str
    token: str
    host: str | None = None
    port: int | None = None

    def __repr__(self) -> str:
        return f"BearerAuth({self.sasl_name}, user={self.user!r})"

    @property
    def sasl_name(self) -> str:
        return SASL_NAMES[self.mechanism]

    def __call__(self, challenge: bytes | None = None) -> str:
        if challenge is not None:
            return KVSEP if self.mechanism == "oauthbearer" else ""
        if self.mechanism == "oauthbearer":
            return oauthbearer_response(self.user, self.token, self.host, self.port)
        return xoauth2_response(self.user, self.token)
