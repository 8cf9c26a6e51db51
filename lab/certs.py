"""The local lab's own certificate authority and the gateway's certificate.

On a cluster cert-manager does this (cluster/issuers.yaml); locally the lab
does the same thing itself: one CA, one certificate for the gateway's hosts,
so a check can verify HTTPS against the lab CA just as on a cluster.
"""

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.config import CA_FILE_NAME
from lab.files import write_atomic

GATEWAY_NAMES = ("canary.lab.local", "*.lab.local", "localhost")
VALID_DAYS = 90


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "canary-lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_gateway_tls(folder: Path) -> dict[str, Path]:
    """Write the CA (CA_FILE_NAME), gateway.crt and gateway.key into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("canary-lab CA")).issuer_name(_name("canary-lab CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(GATEWAY_NAMES[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in GATEWAY_NAMES]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca": folder / CA_FILE_NAME, "cert": folder / "gateway.crt", "key": folder / "gateway.key"}
    # write_atomic: each file is 0600 from its first byte (the key is never readable by others, even briefly).
    write_atomic(files["ca"], ca.public_bytes(serialization.Encoding.PEM).decode())
    write_atomic(files["cert"], cert.public_bytes(serialization.Encoding.PEM).decode())
    write_atomic(files["key"], _key_pem(key).decode())
    return files
