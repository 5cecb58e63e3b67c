"""A throw-away certificate authority, made with the openssl command line: the files
cert-manager would write into a kubernetes.io/tls Secret (ca.crt, tls.crt, tls.key). run-local's
stand-in API server serves with one (in-cluster clients speak only TLS), and the tests of the
TLS-enabled etcd and NATS use it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

OPENSSL = shutil.which("openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL or "openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def _new_key(key: Literal["rsa", "ec"]) -> list[str]:
    # An RSA key takes openssl about 0.5 s to make, a P-256 one a few milliseconds; rustls
    # (the runtime's TLS) and Python's ssl accept both.
    if key == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    return ["-newkey", "rsa:2048"]


def certificate_authority(folder: Path, name: str = "test-ca",
                          key: Literal["rsa", "ec"] = "rsa") -> Path:
    """A self-signed CA in `folder` (ca.crt, ca.key); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *_new_key(key), "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
    return folder


def tls_secret(ca: Path, folder: Path, common_name: str, *, usages: Sequence[str],
               dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = (),
               key: Literal["rsa", "ec"] = "rsa") -> Path:
    """A certificate of `ca` with the given extended key usages (serverAuth, clientAuth) and
    subject alternative names, laid out as a kubernetes.io/tls Secret volume: ca.crt, tls.crt,
    tls.key. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"DNS:{n}" for n in dns_names] + [f"IP:{a}" for a in ip_addresses]
    extensions = ["basicConstraints=critical,CA:FALSE",
                  "keyUsage=critical,digitalSignature,keyEncipherment",
                  f"extendedKeyUsage={','.join(usages)}"]
    if names:
        extensions.append(f"subjectAltName={','.join(names)}")
    (folder / "extensions.cnf").write_text("\n".join(extensions) + "\n")
    _openssl("req", "-new", *_new_key(key), "-nodes", "-subj", f"/CN={common_name}",
             "-keyout", "tls.key", "-out", "tls.csr", cwd=folder)
    _openssl("x509", "-req", "-in", "tls.csr", "-CA", str(ca / "ca.crt"), "-CAkey",
             str(ca / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", "extensions.cnf",
             "-out", "tls.crt", cwd=folder)
    shutil.copy(ca / "ca.crt", folder / "ca.crt")
    for scratch in ("tls.csr", "extensions.cnf"):
        (folder / scratch).unlink()
    return folder


def secret_data(folder: Path) -> dict[str, str]:
    """The Secret's keys and their contents, as `secretKeyRef` hands them to a container."""
    return {key: (folder / key).read_text() for key in ("ca.crt", "tls.crt", "tls.key")}
