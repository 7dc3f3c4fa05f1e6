"""Certificates of one sandbox cluster: a CA, the API server's serving certificate, the admin client certificate
and the service-account signing key. ECDSA P-256 (fast to generate; every component accepts it)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClusterPki:
    """Paths of the PEM files `write_pki` made."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public(self) -> Path:
        return self.directory / "sa.pub"


def write_pki(directory: Path, cluster: str, addresses: list[str]) -> ClusterPki:
    """Generate every key and certificate of `cluster`; keys are readable by their owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = ClusterPki(directory)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"modelplane-sandbox-{cluster}-ca")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(*_usage(cert_sign=True)), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_cert(pki.ca_cert, ca)
    server_key = ec.generate_private_key(ec.SECP256R1())
    alternative = [x509.DNSName(name) for name in API_SERVER_NAMES]
    alternative += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    server = (
        _builder(_name("kube-apiserver"), ca_name, server_key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(*_usage()), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_cert(pki.server_cert, server)
    _write_key(pki.server_key, server_key)
    admin_key = ec.generate_private_key(ec.SECP256R1())
    # system:masters: the admin group every API server authorizes for everything.
    admin_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "modelplane-sandbox-admin"),
        ]
    )
    admin = (
        _builder(admin_name, ca_name, admin_key.public_key(), now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(*_usage()), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_cert(pki.admin_cert, admin)
    _write_key(pki.admin_key, admin_key)
    service_account = ec.generate_private_key(ec.SECP256R1())
    _write_key(pki.service_account_key, service_account)
    public = service_account.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pki.service_account_public.write_bytes(public)
    return pki


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _usage(*, cert_sign: bool = False) -> tuple[bool, ...]:
    """KeyUsage's nine flags: digital_signature, content_commitment, key_encipherment, data_encipherment,
    key_agreement, key_cert_sign, crl_sign, encipher_only, decipher_only."""
    return (True, False, False, False, False, cert_sign, cert_sign, False, False)


def _write_cert(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pkcs8 = serialization.PrivateFormat.PKCS8
    data = key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(data)
