"""Ports picked for local clusters and test harnesses stay out of the ephemeral range."""

from __future__ import annotations

from pathlib import Path

from consensus.runtime.local import PORTS_LOCAL, free_ports

EPHEMERAL_LOW_DEFAULT = 32768  # Linux's default; the machine's own value is checked too


def test_free_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(p in PORTS_LOCAL for p in ports)
    assert PORTS_LOCAL.stop <= EPHEMERAL_LOW_DEFAULT


def test_port_range_is_below_this_machines_ephemeral_range() -> None:
    proc = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(proc.read_text().split()[0]) if proc.exists() else EPHEMERAL_LOW_DEFAULT
    assert PORTS_LOCAL.stop <= low, f"PORTS_LOCAL overlaps the ephemeral range from {low}"
