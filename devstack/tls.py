"""Throwaway certificates for a secured local broker: a CA, the broker's certificate and client certificates.

Everything is PEM, which Kafka reads directly (``ssl.keystore.type=PEM``) and Python's ``ssl`` loads. The broker's
certificate names 127.0.0.1 and localhost, so clients verify the host name as they would on a real cluster. A
second, unrelated CA signs certificates that the broker must refuse.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=2)

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Authority:
    """A CA: its key and certificate, and the file its certificate is written to."""

    key: Key
    certificate: x509.Certificate
    certificate_file: Path


@dataclass(frozen=True)
class Identity:
    """A certificate with its key: ``key_file`` holds the PKCS#8 key, ``pem_file`` the key and the chain."""

    certificate_file: Path
    key_file: Path
    pem_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lec-connector devstack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_authority(folder: Path, name: str) -> Authority:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(key, certificate, path)


def issue(authority: Authority, folder: Path, name: str, *, server: bool) -> Identity:
    """A certificate for ``name`` signed by ``authority``: for a server on 127.0.0.1/localhost, or a client."""
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(authority.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
                       critical=False)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    certificate = builder.sign(authority.key, hashes.SHA256())
    chain = certificate.public_bytes(serialization.Encoding.PEM)
    folder.mkdir(parents=True, exist_ok=True)
    certificate_file, key_file, pem_file = folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.pem"
    certificate_file.write_bytes(chain)
    key_file.write_bytes(_pem(key))
    key_file.chmod(0o600)
    pem_file.write_bytes(_pem(key) + chain)  # Kafka's PEM keystore: the key, then its certificate chain
    pem_file.chmod(0o600)
    return Identity(certificate_file, key_file, pem_file)


@dataclass(frozen=True)
class DevCertificates:
    """The local CA, the broker's certificate, a trusted client and one signed by a CA the broker does not know."""

    ca_file: Path
    broker: Identity
    client: Identity
    stranger: Identity
    stranger_ca_file: Path


def create(folder: Path) -> DevCertificates:
    authority = new_authority(folder, "lec-devstack-ca")
    stranger_authority = new_authority(folder, "stranger-ca")
    return DevCertificates(
        ca_file=authority.certificate_file,
        broker=issue(authority, folder, "broker", server=True),
        client=issue(authority, folder, "lec-client", server=False),
        stranger=issue(stranger_authority, folder, "stranger", server=False),
        stranger_ca_file=stranger_authority.certificate_file,
    )
