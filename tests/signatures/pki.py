"""A self-made key and certificate authority for signing tests (built with ``cryptography``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Pki:
    folder: Path
    key: Path
    """Leaf private key (P-256), also usable as a bare signing key."""
    public_key: Path
    leaf: Path
    intermediate: Path
    root: Path
    other_root: Path
    """A root that issued nothing here."""


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def issue(
    subject_cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    not_before: dt.datetime = NOW - dt.timedelta(days=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
    email: str | None = None,
    code_signing: bool = True,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=code_signing,
                content_commitment=False,
                key_encipherment=not code_signing,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if code_signing:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
        if email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA384())


def make_pki(folder: Path, leaf_cn: str = "ml-release-signer", **leaf_options: object) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP384R1())
    ca_from = NOW - dt.timedelta(days=1000)
    root = issue("test-root-ca", root_key, None, root_key, ca=True, not_before=ca_from)
    int_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = issue("test-intermediate-ca", int_key, root, root_key, ca=True, not_before=ca_from)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue(
        leaf_cn, leaf_key, intermediate, int_key, ca=False, email="release@example.org", **leaf_options
    )  # type: ignore[arg-type]
    other_key = ec.generate_private_key(ec.SECP384R1())
    other = issue("unrelated-root-ca", other_key, None, other_key, ca=True, not_before=ca_from)
    pub = folder / "leaf.pub"
    pub.write_bytes(
        leaf_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(
        folder=folder,
        key=write_key(leaf_key, folder / "leaf.key"),
        public_key=pub,
        leaf=write_cert(leaf, folder / "leaf.pem"),
        intermediate=write_cert(intermediate, folder / "intermediate.pem"),
        root=write_cert(root, folder / "root.pem"),
        other_root=write_cert(other, folder / "other-root.pem"),
    )
