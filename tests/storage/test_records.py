"""Frames: CRC-32C over position, header and payload."""

from __future__ import annotations

import pytest

from consensus.storage.wal.records import (
    HEADER_BYTES,
    SEGMENT_MAGIC,
    BadFrame,
    Frame,
    decode_single,
    encode_frame,
    encode_single,
    read_frame,
)


def test_a_frame_reads_back_at_its_position() -> None:
    frame = encode_frame(1000, 400, b"payload")
    got = read_frame(frame, 0, 1000, 64)
    assert isinstance(got, Frame)
    assert (bytes(got.payload), got.synced, got.end) == (b"payload", 400, HEADER_BYTES + 7)


def test_a_frame_at_another_position_fails_its_crc() -> None:
    frame = encode_frame(1000, 0, b"payload")
    got = read_frame(frame, 0, 1001, 64)
    assert isinstance(got, BadFrame) and got.reason.startswith("CRC mismatch")


def test_every_single_bit_flip_is_detected() -> None:
    frame = bytearray(encode_frame(8, 0, b"some payload bytes"))
    for bit in range(len(frame) * 8):
        frame[bit // 8] ^= 1 << (bit % 8)
        assert isinstance(read_frame(bytes(frame), 0, 8, 1024), BadFrame), bit
        frame[bit // 8] ^= 1 << (bit % 8)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00" * 10, "10 bytes left, too few for a record header"),
        (b"\x00" * 40, "record length is 0"),
        (encode_frame(0, 0, b"x" * 100), "record length 100 is over the limit 64"),
        (encode_frame(0, 0, b"x" * 50)[:-1], "record of 50 bytes runs past the end of the file"),
    ],
)
def test_bad_frames_say_why(data: bytes, reason: str) -> None:
    got = read_frame(data, 0, 0, 64)
    assert isinstance(got, BadFrame) and got.reason.startswith(reason)


def test_zeroed_bytes_are_never_a_valid_frame() -> None:
    assert isinstance(read_frame(bytes(64), 0, 0, 64), BadFrame)


def test_encode_frame_refuses_an_empty_payload() -> None:
    with pytest.raises(ValueError, match="a WAL record holds 1 to 4294967295 bytes, got 0"):
        encode_frame(0, 0, b"")


def test_single_record_files() -> None:
    data = encode_single(b"hello")
    assert data.startswith(SEGMENT_MAGIC) and decode_single(data, "f") == b"hello"
    with pytest.raises(ValueError, match="f is corrupt at byte offset 0: bad magic"):
        decode_single(b"X" + data[1:], "f")
    with pytest.raises(ValueError, match="f is corrupt at byte offset 8: CRC mismatch"):
        decode_single(data[:-1] + b"?", "f")
    with pytest.raises(ValueError, match=f"f is corrupt at byte offset {len(data)}: trailing"):
        decode_single(data + b"\x00", "f")
