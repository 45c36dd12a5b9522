"""End-to-end encryption: OpenPGP for mail (this session), OMEMO for chat (later).

    status.py    the vocabulary every layer carries: CryptoStatus, Signature, Verdict
    detect.py    which OpenPGP shape a message has, from its structure alone
    openpgp.py   the OpenPGP port: the user's GnuPG keyring through GPGME
    pgpmime.py   RFC 3156 PGP/MIME and inline PGP, read and written, protected headers
    outgoing.py  what a send asked for (sign, encrypt) and the refusal when it cannot
    autocrypt.py Autocrypt Level 1: the header, peers' state, the recommendation;
                 autocrypt_keys.py (GPGME), autocrypt_mail.py (send and read hooks),
                 autocrypt_verify.py (peers' signatures)

Nothing here imports GPGME at import time: only a message that needs it loads it.
"""

from .status import CryptoStatus, Signature, Verdict

__all__ = ["CryptoStatus", "Signature", "Verdict"]
