"""Shared options of the client subcommands (kv, status): endpoints and TLS."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from ..transport.tcp import Address
from ..transport.tls import TlsConfig


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoints", required=True, help="comma-separated client addresses HOST:PORT,..."
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--tls-ca", type=Path, help="cluster CA (when nodes use TLS)")
    parser.add_argument("--tls-cert", type=Path, help="client certificate")
    parser.add_argument("--tls-key", type=Path, help="client key")


def parse_endpoints(text: str) -> list[str]:
    """Split and check ``HOST:PORT,...``; ``ValueError`` names a bad one."""
    endpoints = [e.strip() for e in text.split(",") if e.strip()]
    if not endpoints:
        raise ValueError("--endpoints is empty")
    for endpoint in endpoints:
        Address.parse(endpoint)
    return endpoints


def client_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    parts = (args.tls_ca, args.tls_cert, args.tls_key)
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise ValueError("TLS needs all of --tls-ca, --tls-cert and --tls-key")
    return TlsConfig(args.tls_ca, args.tls_cert, args.tls_key).client_context()
