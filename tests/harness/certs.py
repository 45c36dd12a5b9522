"""A certificate authority made for one run, and a server certificate it signs.

The client verifies every server against this CA (the `ca_file` setting), so the
tests exercise real verification rather than turning it off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    ca_cert: Path
    cert: Path
    key: Path
    chain: Path  # server certificate followed by the CA, for servers that want one file


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tuiclient test run"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_certs(directory: Path, hostnames: list[str], *, days: int = 7,
               not_before: dt.datetime | None = None) -> CertFiles:
    """Write a CA and a server certificate valid for `hostnames` (and 127.0.0.1)."""
    directory.mkdir(parents=True, exist_ok=True)
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    end = start + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("tuiclient test CA"))
        .issuer_name(_name("tuiclient test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    files = CertFiles(directory / "ca.pem", directory / "server.pem",
                      directory / "server.key", directory / "chain.pem")
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(cert.public_bytes(pem))
    files.chain.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    files.key.write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return files


@dataclass(frozen=True)
class BadCerts:
    """Certificates a client must refuse, next to one it must accept.

    Each pair is (certificate chain file, key file). `good`, `wrong_host` and
    `expired` are signed by `ca_cert`; `self_signed` is its own issuer.
    """

    ca_cert: Path
    good: tuple[Path, Path]
    wrong_host: tuple[Path, Path]
    expired: tuple[Path, Path]
    self_signed: tuple[Path, Path]


_Key = ec.EllipticCurvePrivateKey


def _leaf(subject: str, names: list[str], issuer_name: x509.Name, issuer_key: _Key | None,
          start: dt.datetime, end: dt.datetime) -> tuple[x509.Certificate, _Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    signer = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name if issuer_key else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return builder.sign(signer, hashes.SHA256()), key


def make_bad_certs(directory: Path, hostnames: list[str]) -> BadCerts:
    """A CA and four server certificates for the TLS refusal tests.

    `good` names `hostnames` (and is what a correct server presents); `wrong_host`
    names only "wrong.invalid"; `expired` names `hostnames` but ended yesterday;
    `self_signed` names `hostnames` but no CA vouches for it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("tuiclient refusal test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    specs = {
        "good": (hostnames, ca_key, now - hour, now + day),
        "wrong_host": (["wrong.invalid"], ca_key, now - hour, now + day),
        "expired": (hostnames, ca_key, now - 10 * day, now - day),
        "self_signed": (hostnames, None, now - hour, now + day),
    }
    made: dict[str, tuple[Path, Path]] = {}
    for kind, (names, signer, start, end) in specs.items():
        cert, key = _leaf(names[0], names, ca_name, signer, start, end)
        chain, key_file = directory / f"{kind}.pem", directory / f"{kind}.key"
        chain.write_bytes(cert.public_bytes(pem))
        key_file.write_bytes(key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
        made[kind] = (chain, key_file)
    return BadCerts(directory / "ca.pem", **made)
