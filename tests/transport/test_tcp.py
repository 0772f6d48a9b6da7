"""TCP transport: handshake, mutual TLS, and bad input from peers."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import trio
import trustme

from consensus.codec import FRAME_HEADER, WIRE
from consensus.transport import Address, TcpOptions, TcpTransport, TlsConfig, TlsConfigError
from consensus.transport.handshake import HANDSHAKE, Hello, HelloAck, HelloReject, read_frame

from .conftest import eventually_delivered, heartbeat, tcp_cluster


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    """Whether some log record's message or structured fields mention ``text``."""
    return any(
        text in r.getMessage() or text in str(getattr(r, "fields", "")) for r in caplog.records
    )


async def _closed_by_peer(stream: trio.abc.ReceiveStream) -> bool:
    """Whether the other side closes the connection (FIN or RST) within 5 s."""
    with trio.fail_after(5):
        try:
            return await stream.receive_some(100) == b""
        except trio.BrokenResourceError:
            return True


async def _raw_hello(port: int, hello: Hello) -> object:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(HANDSHAKE.encode_frame(hello))
        return await read_frame(stream, HANDSHAKE)


async def test_handshake_refuses_other_cluster_and_unknown_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "consensus.transport.tcp")
    async with tcp_cluster((1, 2), cluster_id="alpha") as nodes:
        assert nodes[2].listen_address is not None
        port = nodes[2].listen_address.port
        answer = await _raw_hello(port, Hello(1, "beta", 1, 2))
        assert answer == HelloReject("cluster id 'beta' is not this cluster ('alpha')")
        answer = await _raw_hello(port, Hello(1, "alpha", 7, 2))
        assert answer == HelloReject("node id 7 is not a peer that dials this node")
        answer = await _raw_hello(port, Hello(1, "alpha", 1, 2))
        assert answer == HelloAck("alpha", 2)
        assert nodes[2].stats.refused_connections == 2
        assert _logged(caplog, "cluster id 'beta' is not this cluster")
        # the genuine node 1 reconnects (the fake one replaced its link) and traffic flows
        await eventually_delivered(nodes[1], nodes[2])


async def test_dialer_refuses_node_of_other_cluster() -> None:
    """Two clusters that share an address book never connect."""
    from consensus.transport import bind_listeners

    ls1 = await bind_listeners(Address("127.0.0.1", 0))
    ls2 = await bind_listeners(Address("127.0.0.1", 0))
    peers = {
        1: Address("127.0.0.1", ls1[0].socket.getsockname()[1]),
        2: Address("127.0.0.1", ls2[0].socket.getsockname()[1]),
    }
    a = TcpTransport(1, "alpha", peers)
    b = TcpTransport(2, "beta", peers)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run, ls1)
        await nursery.start(b.run, ls2)
        await trio.sleep(0.3)
        assert not a.connected(2) and not b.connected(1)
        assert b.stats.refused_connections >= 1
        nursery.cancel_scope.cancel()


async def test_garbage_frame_closes_connection_and_node_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "consensus.transport.tcp")
    async with tcp_cluster((1, 2)) as nodes:
        assert nodes[2].listen_address is not None
        port = nodes[2].listen_address.port
        # a peer that handshakes properly, then sends garbage
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(HANDSHAKE.encode_frame(Hello(1, "test", 1, 2)))
            assert await read_frame(stream, HANDSHAKE) == HelloAck("test", 2)
            await stream.send_all(FRAME_HEADER.pack(5) + b"\xff\xfe\xfd\xfc\xfb")
            assert await _closed_by_peer(stream)  # closed by the node
        assert nodes[2].stats.decode_errors == 1
        assert _logged(caplog, "bad frame")
        # the genuine node 1 reconnects (its old link was replaced) and traffic flows
        await eventually_delivered(nodes[1], nodes[2])


async def test_spoofed_source_closes_connection() -> None:
    async with tcp_cluster((1, 2, 3)) as nodes:
        assert nodes[3].listen_address is not None
        stream = await trio.open_tcp_stream("127.0.0.1", nodes[3].listen_address.port)
        async with stream:
            await stream.send_all(HANDSHAKE.encode_frame(Hello(1, "test", 1, 3)))
            await read_frame(stream, HANDSHAKE)
            await stream.send_all(WIRE.encode_frame(heartbeat(2, 3)))  # claims to be node 2
            assert await _closed_by_peer(stream)
        assert nodes[3].stats.decode_errors == 1


async def test_oversized_frame_refused_from_its_header() -> None:
    small = TcpOptions(codec=type(WIRE)({}, frame_bytes_max=1024))
    async with tcp_cluster((1, 2), options=small, wait_connected=False) as nodes:
        assert nodes[2].listen_address is not None
        stream = await trio.open_tcp_stream("127.0.0.1", nodes[2].listen_address.port)
        async with stream:
            await stream.send_all(HANDSHAKE.encode_frame(Hello(1, "test", 1, 2)))
            await read_frame(stream, HANDSHAKE)
            # announce 1 GiB, send only the header: refused without waiting for the body
            await stream.send_all(FRAME_HEADER.pack(1 << 30))
            assert await _closed_by_peer(stream)
        assert nodes[2].stats.decode_errors == 1


async def test_random_bytes_instead_of_handshake_are_refused() -> None:
    async with tcp_cluster((1, 2)) as nodes:
        assert nodes[2].listen_address is not None
        stream = await trio.open_tcp_stream("127.0.0.1", nodes[2].listen_address.port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await _closed_by_peer(stream)
        assert nodes[2].stats.refused_connections == 1


# -- TLS ------------------------------------------------------------------------------------


def _tls_files(tmp_path: Path, ca: trustme.CA, name: str) -> TlsConfig:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = (tmp_path / f"{name}-{x}.pem" for x in ("ca", "cert", "key"))
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return TlsConfig(ca_path, cert_path, key_path)


async def test_mutual_tls_connects_and_carries_messages(tmp_path: Path) -> None:
    ca = trustme.CA()
    tls = {i: _tls_files(tmp_path, ca, f"n{i}") for i in (1, 2)}
    async with tcp_cluster((1, 2), tls=tls) as nodes:
        assert nodes[1].send(heartbeat(1, 2))
        with trio.fail_after(5):
            assert await nodes[2].inbox.receive() == heartbeat(1, 2)


async def test_tls_refuses_peer_with_certificate_of_another_ca(tmp_path: Path) -> None:
    tls = {1: _tls_files(tmp_path, trustme.CA(), "n1"), 2: _tls_files(tmp_path, trustme.CA(), "n2")}
    async with tcp_cluster((1, 2), tls=tls, wait_connected=False) as nodes:
        await trio.sleep(0.5)
        assert not nodes[1].connected(2)
        assert nodes[2].stats.refused_connections >= 1


async def test_tls_refuses_peer_without_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    tls = {i: _tls_files(tmp_path, ca, f"n{i}") for i in (1, 2)}
    async with tcp_cluster((1, 2), tls=tls) as nodes:
        assert nodes[2].listen_address is not None
        context = ssl.create_default_context(cafile=str(tls[2].ca_path))
        context.check_hostname = False  # a client that trusts the CA but has no cert
        raw = await trio.open_tcp_stream("127.0.0.1", nodes[2].listen_address.port)
        stream = trio.SSLStream(raw, context, server_hostname="127.0.0.1")
        with trio.fail_after(5):
            try:
                await stream.do_handshake()
                await stream.send_all(HANDSHAKE.encode_frame(Hello(1, "test", 1, 2)))
                refused = await stream.receive_some(100) == b""
            except trio.BrokenResourceError:
                refused = True
        assert refused
        await trio.aclose_forcefully(stream)
        with trio.fail_after(5):
            while nodes[2].stats.refused_connections < 1:
                await trio.sleep(0.01)


def test_tls_config_names_missing_file(tmp_path: Path) -> None:
    missing = TlsConfig(tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem")
    with pytest.raises(TlsConfigError, match=r"TLS CA file .*ca.pem does not exist"):
        missing.server_context()


def test_address_parse_errors() -> None:
    assert Address.parse("[::1]:80") == Address("::1", 80)
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        Address.parse("localhost")
    with pytest.raises(ValueError, match="has a port that is not a number"):
        Address.parse("h:x")
    with pytest.raises(ValueError, match="port outside 0-65535"):
        Address.parse("h:70000")
