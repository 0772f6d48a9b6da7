"""A node's configuration, from a cluster TOML file and/or command-line values.

The TOML file describes the whole cluster; ``--id`` picks the node::

    cluster_id = "demo"
    protocol = "raft"            # or "multipaxos", "paxos-lwt"
    tick_ms = 10                 # optional timing knobs
    election_ticks = 10
    heartbeat_ticks = 2
    snapshot_entries = 20000
    sync_in_thread = false       # fsync in the node's loop (default) or a worker thread
    lease_reads = false          # Raft: serve "lease" reads from the leader's read lease
    lease_drift_max = 0.1        #   assuming clock rates within 10% of each other

    [tls]                        # optional; "{id}" is replaced by the node id
    ca = "certs/ca.pem"
    cert = "certs/node-{id}.pem"
    key = "certs/node-{id}.key"

    [kv]                         # optional; the key-value store's limits and clock
    value_bytes_max = 65536      # (statemachines.kv_commands.KvConfig; the same on
    session_timeout_ms = 600000  # every node)

    [[nodes]]
    id = 1
    peer = "127.0.0.1:7001"      # the address peers dial
    client = "127.0.0.1:8001"    # the client port (optional)
    data_dir = "data/1"          # optional; relative paths are relative to the file
    join = true                  # optional: not in the initial configuration; the node
                                 # starts as a joiner until `consensus member add` (see
                                 # docs/membership.md)

Relative paths in the file are resolved against the file's directory. Any problem raises
:class:`ConfigError` with a message that names the file, key or value at fault.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..transport.tcp import Address
from ..transport.tls import TlsConfig
from ..types import NodeId
from ..unsafe import is_unsafe
from .protocols import PROTOCOL_NAMES


class ConfigError(ValueError):
    """The configuration is invalid; the message says what and where."""


@attrs.frozen(slots=True)
class NodeConfig:
    node_id: NodeId
    cluster_id: str
    listen: Address
    peers: Mapping[NodeId, Address]
    client_listen: Address | None = None
    client_endpoints: Mapping[NodeId, str] = attrs.field(factory=dict)
    protocol: str = "raft"
    data_dir: Path | None = None
    tls: TlsConfig | None = None
    tick_s: float = 0.01
    election_ticks: int = 10
    heartbeat_ticks: int = 2
    snapshot_entries: int = 20_000
    sync_in_thread: bool = False
    lease_reads: bool = False
    """Raft serves ``lease`` reads from its read lease (``RaftConfig.lease_reads``)."""
    lease_drift_max: float = 0.1
    """The clock drift bound lease reads assume (``RaftConfig.lease_drift_max``)."""
    state_machine: Mapping[str, Any] = attrs.field(factory=dict)
    """The cluster file's ``[kv]`` table as written: settings of the state machine, which
    this layer does not interpret (``consensus serve`` builds its ``KvConfig`` from it)."""
    join: bool = False
    """This node joins a running cluster (``--join``, or ``join = true`` in its
    ``[[nodes]]`` table): it is not in the initial configuration and starts as a
    non-member until the leader adds it (see docs/membership.md)."""
    joiners: frozenset[NodeId] = frozenset()
    """Other nodes of the file marked ``join = true``: not in the initial configuration."""

    @property
    def voters(self) -> tuple[NodeId, ...]:
        """The initial voters (used only while the data holds no configuration): every
        node of the file (or ``--peer``) but the joiners, this one included unless it
        joins."""
        nodes = {self.node_id, *self.peers} - set(self.joiners)
        if self.join:
            nodes.discard(self.node_id)
        return tuple(sorted(nodes))

    def validate(self) -> NodeConfig:
        if self.node_id < 1:
            raise ConfigError(f"node id must be a positive integer, got {self.node_id}")
        if not self.cluster_id:
            raise ConfigError("cluster id must not be empty")
        if self.node_id in self.peers:
            raise ConfigError(f"node {self.node_id} is listed as its own peer")
        if not self.voters:
            raise ConfigError(
                f"no initial voters: every node is marked join (node {self.node_id} "
                "needs at least one peer that is a member already)"
            )
        if self.protocol not in PROTOCOL_NAMES and not is_unsafe(self.protocol):
            raise ConfigError(
                f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOL_NAMES)}"
            )
        if self.client_listen is not None and self.client_listen == self.listen:
            raise ConfigError(f"peer and client ports are the same address {self.listen}")
        if self.tick_s <= 0:
            raise ConfigError(f"tick must be positive, got {self.tick_s * 1000} ms")
        if not 1 <= self.heartbeat_ticks < self.election_ticks:
            raise ConfigError(
                f"need 1 <= heartbeat_ticks ({self.heartbeat_ticks}) < election_ticks "
                f"({self.election_ticks})"
            )
        if self.snapshot_entries < 0:
            raise ConfigError(f"snapshot_entries must be >= 0, got {self.snapshot_entries}")
        if not 0 <= self.lease_drift_max < 1:
            raise ConfigError(f"lease_drift_max must be in [0, 1), got {self.lease_drift_max}")
        lease_ticks = int((self.election_ticks - 1) * (1 - self.lease_drift_max))
        if self.lease_reads and lease_ticks < 1:
            raise ConfigError(
                f"lease_reads: a lease of (election_ticks - 1) * (1 - lease_drift_max) = "
                f"{lease_ticks} ticks is too short; raise election_ticks"
            )
        return self


def parse_address(text: str, what: str) -> Address:
    try:
        return Address.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def parse_peer(text: str) -> tuple[NodeId, Address]:
    """Parse ``ID=HOST:PORT`` as given to ``--peer``."""
    node, sep, address = text.partition("=")
    if not sep:
        raise ConfigError(f"--peer {text!r} is not ID=HOST:PORT")
    try:
        node_id = int(node)
    except ValueError:
        raise ConfigError(f"--peer {text!r}: node id {node!r} is not an integer") from None
    return node_id, parse_address(address, f"--peer {text!r}")


def _get(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    ):
        raise ConfigError(f"{where}: {key} must be a {kind.__name__}, got {value!r}")
    return value


def read_toml(path: Path, name: str) -> dict[str, Any]:
    """The TOML document at ``path``; ``ConfigError`` naming it as ``name`` if it cannot
    be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name} is not valid TOML: {exc}") from None


def load_cluster_file(path: Path, node_id: NodeId | None) -> dict[str, Any]:
    """Read the cluster file and return the settings of ``node_id`` as keyword values for
    :func:`build_config` (command-line values override them)."""
    doc = read_toml(path, f"config file {path}")
    base = path.parent
    where = str(path)
    nodes = doc.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ConfigError(f"{where}: needs at least one [[nodes]] table")
    if node_id is None:
        raise ConfigError(f"{where}: say which node this is with --id")
    peers: dict[NodeId, Address] = {}
    clients: dict[NodeId, str] = {}
    joiners: set[NodeId] = set()
    me: dict[str, Any] | None = None
    for i, node in enumerate(nodes):
        at = f"{where}: nodes[{i}]"
        if not isinstance(node, dict):
            raise ConfigError(f"{at} is not a table")
        nid = _get(node, "id", int, at)
        peer = _get(node, "peer", str, at)
        if nid is None or peer is None:
            raise ConfigError(f"{at} needs both id and peer")
        if nid in peers:
            raise ConfigError(f"{at}: node id {nid} is listed twice")
        peers[nid] = parse_address(peer, f"{at}.peer")
        client = _get(node, "client", str, at)
        if client is not None:
            parse_address(client, f"{at}.client")
            clients[nid] = client
        if _get(node, "join", bool, at):
            joiners.add(nid)
        if nid == node_id:
            me = node
    if me is None:
        raise ConfigError(
            f"{where}: node {node_id} is not among the [[nodes]] "
            f"(ids {', '.join(str(n) for n in sorted(peers))})"
        )
    values: dict[str, Any] = {
        "node_id": node_id,
        "listen": peers.pop(node_id),
        "peers": peers,
        "client_endpoints": clients,
        "join": node_id in joiners,
        "joiners": frozenset(joiners - {node_id}),
    }
    if node_id in clients:
        values["client_listen"] = parse_address(clients[node_id], f"{where}: client")
    data_dir = _get(me, "data_dir", str, f"{where}: node {node_id}")
    if data_dir is not None:
        values["data_dir"] = base / data_dir
    for key, kind in (
        ("cluster_id", str),
        ("protocol", str),
        ("election_ticks", int),
        ("heartbeat_ticks", int),
        ("snapshot_entries", int),
        ("sync_in_thread", bool),
        ("lease_reads", bool),
    ):
        value = _get(doc, key, kind, where)
        if value is not None:
            values[key] = value
    tick_ms = doc.get("tick_ms")
    if tick_ms is not None:
        if not isinstance(tick_ms, int | float) or isinstance(tick_ms, bool):
            raise ConfigError(f"{where}: tick_ms must be a number, got {tick_ms!r}")
        values["tick_s"] = tick_ms / 1000
    drift = doc.get("lease_drift_max")
    if drift is not None:
        if not isinstance(drift, int | float) or isinstance(drift, bool):
            raise ConfigError(f"{where}: lease_drift_max must be a number, got {drift!r}")
        values["lease_drift_max"] = float(drift)
    kv = doc.get("kv")
    if kv is not None:
        if not isinstance(kv, dict):
            raise ConfigError(f"{where}: kv must be a table ([kv]), got {kv!r}")
        values["state_machine"] = dict(kv)
    tls = doc.get("tls")
    if tls is not None:
        if not isinstance(tls, dict) or not all(k in tls for k in ("ca", "cert", "key")):
            raise ConfigError(f"{where}: [tls] needs ca, cert and key")
        values["tls"] = TlsConfig(
            *(base / str(tls[k]).replace("{id}", str(node_id)) for k in ("ca", "cert", "key"))
        )
    return values


def build_config(
    *,
    config_file: Path | None = None,
    node_id: NodeId | None = None,
    listen: str | None = None,
    peers: Sequence[str] = (),
    client_listen: str | None = None,
    cluster_id: str | None = None,
    protocol: str | None = None,
    data_dir: Path | None = None,
    tls_ca: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    tick_ms: float | None = None,
    election_ticks: int | None = None,
    heartbeat_ticks: int | None = None,
    lease_reads: bool | None = None,
    join: bool | None = None,
) -> NodeConfig:
    """Merge the cluster file (if any) with command-line values (which win)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values = load_cluster_file(config_file, node_id)
    if node_id is not None:
        values["node_id"] = node_id
    if listen is not None:
        values["listen"] = parse_address(listen, "--listen")
    if peers:
        parsed = dict(parse_peer(p) for p in peers)
        if len(parsed) != len(peers):
            raise ConfigError("a node id is given twice with --peer")
        values["peers"] = parsed
    if client_listen is not None:
        values["client_listen"] = parse_address(client_listen, "--client-listen")
    for key, value in (
        ("cluster_id", cluster_id),
        ("protocol", protocol),
        ("data_dir", data_dir),
        ("election_ticks", election_ticks),
        ("heartbeat_ticks", heartbeat_ticks),
        ("lease_reads", lease_reads),
        ("join", join or None),
    ):
        if value is not None:
            values[key] = value
    if tick_ms is not None:
        values["tick_s"] = tick_ms / 1000
    tls_parts = (tls_ca, tls_cert, tls_key)
    if any(p is not None for p in tls_parts):
        if not all(p is not None for p in tls_parts):
            raise ConfigError("TLS needs all of --tls-ca, --tls-cert and --tls-key")
        values["tls"] = TlsConfig(*(Path(p) for p in tls_parts if p is not None))
    for key, flag in (("node_id", "--id"), ("listen", "--listen"), ("cluster_id", "--cluster-id")):
        if key not in values:
            raise ConfigError(f"missing {flag} (or a --config file that gives it)")
    values.setdefault("peers", {})
    if values.get("client_listen") is not None:
        values.setdefault("client_endpoints", {})
        values["client_endpoints"] = dict(values["client_endpoints"])
        values["client_endpoints"].setdefault(values["node_id"], str(values["client_listen"]))
    return NodeConfig(**values).validate()
