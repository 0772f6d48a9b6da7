"""Bad input: random and mutated frames to the decoders and to a live node's ports.

The node must never crash and must keep serving; oversized frames are refused from their
header.
"""

from __future__ import annotations

import random

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.client import KvClient
from consensus.client.protocol import CLIENT_CODEC, ProposeRequest, StatusRequest
from consensus.codec import FRAME_HEADER, WIRE, DecodeError, FrameDecoder
from consensus.messages import AppendEntries, Heartbeat
from consensus.transport.handshake import HANDSHAKE, Hello
from consensus.types import Entry

from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader

VALID_FRAMES = [
    WIRE.encode_frame(Heartbeat(src=1, dst=2, term=3, commit=4, context=b"ctx")),
    WIRE.encode_frame(
        AppendEntries(
            src=1,
            dst=2,
            term=3,
            prev_index=1,
            prev_term=1,
            entries=(Entry(2, 3, b"data"),),
            commit=1,
        )
    ),
    CLIENT_CODEC.encode_frame(ProposeRequest(1, b"\x01\x02")),
    CLIENT_CODEC.encode_frame(StatusRequest(7)),
]


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.75 and data:
            del data[rng.randrange(len(data))]
        else:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    return bytes(data)


def _decode_all(codec_frames: bytes) -> None:
    for codec in (WIRE, CLIENT_CODEC):
        decoder = FrameDecoder(codec)
        try:
            decoder.feed(codec_frames)
            list(decoder.records())
        except DecodeError:
            pass  # the only error allowed


@given(st.binary(max_size=512))
def test_decoder_random_bytes_raise_only_decode_error(data: bytes) -> None:
    _decode_all(data)


@given(st.sampled_from(VALID_FRAMES), st.randoms(use_true_random=False))
def test_decoder_mutated_frames_raise_only_decode_error(frame: bytes, rng: random.Random) -> None:
    _decode_all(mutate(frame, rng))


def test_decoder_refuses_oversized_header_before_body() -> None:
    decoder = FrameDecoder(WIRE)
    try:
        decoder.feed(FRAME_HEADER.pack(WIRE.frame_bytes_max + 1))
    except DecodeError as exc:
        assert "over the limit" in str(exc)
    else:
        raise AssertionError("an oversized header was accepted")
    assert decoder.buffered_bytes == 4


async def _blast(port: int, payload: bytes) -> None:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return
    try:
        with trio.move_on_after(0.5):
            await stream.send_all(payload)
            while await stream.receive_some(65536):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32))
async def test_live_node_survives_garbage_on_both_ports(seed: int) -> None:
    rng = random.Random(seed)
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        targets = []
        for config in configs:
            assert config.client_listen is not None
            targets += [config.listen.port, config.client_listen.port]
        hello = HANDSHAKE.encode_frame(Hello(1, "t", 1, 2))
        payloads = [
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 2048))),
            FRAME_HEADER.pack(2**31) + b"x" * 100,  # oversized: refused from the header
            hello + mutate(VALID_FRAMES[0], rng),
            hello + FRAME_HEADER.pack(2**31),
        ]
        for _ in range(40):
            payloads.append(mutate(rng.choice(VALID_FRAMES), rng))
        async with trio.open_nursery() as nursery:
            for i, payload in enumerate(payloads):
                nursery.start_soon(_blast, targets[i % len(targets)], payload)
        # every node still serves, and the cluster still replicates
        async with KvClient(endpoints(configs), timeout_s=10) as kv:
            await kv.put("after", b"garbage")
            for endpoint in endpoints(configs):
                async with KvClient([endpoint]) as one:
                    assert await one.get("after") == b"garbage"
        refused = sum(
            n.transport.stats.refused_connections
            + n.transport.stats.decode_errors
            + n.server.closed_for_bad_frames
            for n in nodes.values()
            if n.transport is not None and n.server is not None
        )
        assert refused >= 10, f"only {refused} bad connections were noticed"
