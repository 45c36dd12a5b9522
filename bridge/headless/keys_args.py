"""`tuiclient keys`' command line: one function per sub-command, each adding
its parser and options; `add_keys_commands` adds the verb with all of them.

argparse only: `tuiclient --help` and a usage error build the parser from this
module without the verb's handler (keys.py) and what it imports
(tests/test_headless_fast_paths.py).
"""

from __future__ import annotations

import argparse

KEYS_COMMANDS = ("keys",)
OMEMO_LEVELS = ("verified", "distrusted", "undecided")
OPENPGP_LEVELS = ("unknown", "never", "marginal", "full", "ultimate")

Sub = argparse._SubParsersAction
Parser = argparse.ArgumentParser


def add_keys_list(ksub: Sub, common: Parser) -> None:
    ksub.add_parser("list", parents=[common], help="our keys and our contacts' keys")


def add_keys_import(ksub: Sub, common: Parser) -> None:
    ki = ksub.add_parser("import", parents=[common], help="import keys from a file or -")
    ki.add_argument("file", help="a file of armored or binary keys; '-' reads stdin")


def add_keys_verify(ksub: Sub, common: Parser) -> None:
    kv = ksub.add_parser("verify", parents=[common],
                         help="mark a key verified (a local certification by your key)")
    kv.add_argument("fingerprint", help="an OpenPGP fingerprint, or a JID (OMEMO)")
    kv.add_argument("device", nargs="?", default=None,
                    help="with a JID: the OMEMO device's id or fingerprint")
    kv.add_argument("--as", dest="signer", default=None,
                    help="certify with the key of this address of yours")


def add_keys_trust(ksub: Sub, common: Parser) -> None:
    kt = ksub.add_parser("trust", parents=[common], help="set a key's owner trust")
    kt.add_argument("fingerprint", help="an OpenPGP fingerprint, or a JID (OMEMO)")
    kt.add_argument("device", nargs="?", default=None,
                    help="with a JID: the OMEMO device's id or fingerprint")
    kt.add_argument("--level", required=True, choices=(*OPENPGP_LEVELS, *OMEMO_LEVELS))


def add_keys_prefer(ksub: Sub, common: Parser) -> None:
    kp = ksub.add_parser("prefer", parents=[common],
                         help="what sending to a contact does by default")
    kp.add_argument("address")
    kp.add_argument("choice", choices=("encrypt", "sign", "clear", "default", "omemo"))


def add_autocrypt_commands(ksub: Sub, common: Parser) -> None:
    """`keys autocrypt`, `keys autocrypt-setup [--send]`, `keys autocrypt-import`."""
    ksub.add_parser("autocrypt", parents=[common],
                    help="Autocrypt: our keys and each peer's state")
    ks = ksub.add_parser("autocrypt-setup", parents=[common],
                         help="our Autocrypt key: the account's own, else a new one")
    # Autocrypt Setup Message (Level 1, 4.4): --send mails it to ourselves.
    ks.add_argument("--send", action="store_true",
                    help="also send it to yourself as an Autocrypt Setup Message (the "
                         "setup code is printed once)")
    ki = ksub.add_parser("autocrypt-import", parents=[common],
                         help="import the key of an Autocrypt Setup Message")
    ki.add_argument("message", type=int, help="the setup message's row id (`show`)")
    ki.add_argument("--code", default="-",
                    help="its setup code (36 digits); '-' (the default) reads stdin")


def add_keys_commands(sub: Sub, common: Parser) -> None:
    """`keys` and its sub-commands, in the order `--help` lists them."""
    p = sub.add_parser("keys", parents=[common],
                       help="OpenPGP keys: list, import, verify, trust, prefer")
    ksub = p.add_subparsers(dest="keys_command")
    add_keys_list(ksub, common)
    add_keys_import(ksub, common)
    add_keys_verify(ksub, common)
    add_keys_trust(ksub, common)
    add_keys_prefer(ksub, common)
    add_autocrypt_commands(ksub, common)
