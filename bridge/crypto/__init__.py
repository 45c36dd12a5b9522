"""End-to-end encryption: OpenPGP for mail, OMEMO for chat (whose port is
bridge/xmpp/omemo.py, over slixmpp-omemo).

    status.py    the vocabulary every layer carries: CryptoStatus, Signature, Verdict,
                 OmemoDevice; how a chat line's protection is kept in the store
    detect.py    which OpenPGP shape a message has, from its structure alone
    openpgp.py   the OpenPGP port: the user's GnuPG keyring through GPGME
    pgpmime.py   RFC 3156 PGP/MIME and inline PGP, read and written, protected headers
    outgoing.py  what a send asked for (sign, encrypt; its chat leg OMEMO) and the
                 refusal when it cannot
    preferences.py  per contact: OpenPGP's default, and the OMEMO switch (/omemo)
    autocrypt.py Autocrypt Level 1: the header, peers' state, the recommendation;
                 autocrypt_keys.py (GPGME), autocrypt_mail.py (send and read hooks),
                 autocrypt_verify.py (peers' signatures), autocrypt_setup.py (the
                 Setup Message: our secret key to our other devices)

Nothing here imports GPGME at import time: only a message that needs it loads it.
"""

from .status import CryptoStatus, Signature, Verdict

__all__ = ["CryptoStatus", "Signature", "Verdict"]
