"""Mutual TLS between the nodes of a cluster (and, optionally, for clients).

Every node holds a certificate signed by the cluster's CA. Both sides of a connection
present their certificate and require the other's to chain to that CA; a peer without
such a certificate is refused during the TLS handshake. Host names are not checked:
membership is proved by the CA signature, and the node id by the handshake that follows.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs


class TlsConfigError(ValueError):
    """A TLS file is missing or unreadable; the message names it."""


@attrs.frozen(slots=True)
class TlsConfig:
    """Paths of the cluster CA certificate and this node's certificate chain and key."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def _load(self, context: ssl.SSLContext) -> ssl.SSLContext:
        for what, path in (
            ("CA", self.ca_path),
            ("certificate", self.cert_path),
            ("key", self.key_path),
        ):
            if not Path(path).is_file():
                raise TlsConfigError(f"TLS {what} file {path} does not exist")
        try:
            context.load_verify_locations(cafile=str(self.ca_path))
            context.load_cert_chain(certfile=str(self.cert_path), keyfile=str(self.key_path))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load TLS files: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def server_context(self) -> ssl.SSLContext:
        """For accepted connections: presents our certificate, requires the client's."""
        return self._load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))

    def client_context(self) -> ssl.SSLContext:
        """For dialed connections: presents our certificate, requires the server's."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        return self._load(context)
