"""Transports: how nodes exchange protocol messages.

- :mod:`.sim`: an in-memory network for Trio with one seeded routing hook (delay, loss,
  duplication, reordering, partitions), for tests under ``MockClock``.
- :mod:`.tcp`: framed CBOR over TCP, one connection per pair of nodes, bounded per-peer
  queues, reconnect with jittered back-off, a cluster/node handshake and optional mutual
  TLS (:mod:`.tls`).
- :mod:`.testing`: ``check_transport(maker)``, the conformance suite both run.
"""

from .base import Transport as Transport
from .base import TransportStats as TransportStats
from .sim import Faults as Faults
from .sim import Packet as Packet
from .sim import SimNetwork as SimNetwork
from .sim import SimTransport as SimTransport
from .tcp import Address as Address
from .tcp import TcpOptions as TcpOptions
from .tcp import TcpTransport as TcpTransport
from .tcp import bind_listeners as bind_listeners
from .tcp import open_tcp_transport as open_tcp_transport
from .tls import TlsConfig as TlsConfig
from .tls import TlsConfigError as TlsConfigError

__all__ = [
    "Address",
    "Faults",
    "Packet",
    "SimNetwork",
    "SimTransport",
    "TcpOptions",
    "TcpTransport",
    "TlsConfig",
    "TlsConfigError",
    "Transport",
    "TransportStats",
    "bind_listeners",
    "open_tcp_transport",
]
