"""Helpers for scripts/make-sflow-golden: deterministic traffic, a UDP
receiver that writes what it gets as a pcap, a replayer, sfacctd's CSV."""

import socket
import struct
import sys
import time

from scapy.all import (ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,
                       IPv6, IPv6ExtHdrHopByHop, Raw, rdpcap, wrpcap)
from scapy.layers.inet6 import ICMPv6DestUnreach


def traffic(path):
    """~300 packets: IPv4 and IPv6, TCP/UDP/ICMP, a VLAN-tagged part, an IPv6
    extension header; fixed addresses, sizes and times (byte-for-byte stable)."""
    a, b = "02:00:00:00:00:01", "02:00:00:00:00:02"
    pkts = []
    for i in range(60):
        flags = ["S", "SA", "A", "PA", "FA"][i % 5]
        pkts.append(Ether(src=a, dst=b) / IP(src="10.1.0.%d" % (1 + i % 7), dst="192.0.2.10", tos=0x10 * (i % 3))
                    / TCP(sport=40000 + i % 7, dport=[80, 443, 22][i % 3], flags=flags) / Raw(b"x" * (i * 23 % 1400)))
    for i in range(50):
        pkts.append(Ether(src=b, dst=a) / IP(src="192.0.2.53", dst="10.1.0.%d" % (1 + i % 5))
                    / UDP(sport=[53, 123][i % 2], dport=50000 + i % 5) / Raw(b"d" * (40 + i * 11)))
    for i in range(20):
        icmp = ICMP(type=8, code=0) if i % 4 else ICMP(type=3, code=3)
        pkts.append(Ether(src=a, dst=b) / IP(src="10.1.0.9", dst="198.51.100.%d" % (1 + i % 3)) / icmp
                    / Raw(b"p" * (56 + i)))
    for i in range(50):
        pkts.append(Ether(src=a, dst=b) / IPv6(src="2001:db8::%x" % (1 + i % 6), dst="2001:db8:ffff::1", tc=i % 4 * 8)
                    / TCP(sport=41000 + i % 6, dport=[443, 8080][i % 2], flags="PA") / Raw(b"y" * (i * 29 % 1300)))
    for i in range(30):
        pkts.append(Ether(src=b, dst=a) / IPv6(src="2001:db8:ffff::53", dst="2001:db8::%x" % (1 + i % 4))
                    / UDP(sport=53, dport=52000 + i % 4) / Raw(b"q" * (30 + 17 * i)))
    for i in range(20):
        icmp6 = ICMPv6EchoRequest() if i % 2 else ICMPv6EchoReply()
        if i % 5 == 0:
            icmp6 = ICMPv6DestUnreach(code=4)
        pkts.append(Ether(src=a, dst=b) / IPv6(src="2001:db8::99", dst="2001:db8:1::%x" % (1 + i % 2)) / icmp6
                    / Raw(b"e" * (8 + i)))
    for i in range(40):  # the VLAN-tagged part
        inner = (IP(src="172.16.%d.1" % (i % 4), dst="172.16.9.9") / UDP(sport=5000 + i % 4, dport=514)
                 if i % 2 else
                 IPv6(src="fd00::%x" % (1 + i % 4), dst="fd00::99") / TCP(sport=6000 + i % 4, dport=179, flags="A"))
        pkts.append(Ether(src=a, dst=b) / Dot1Q(vlan=100 + i % 3) / inner / Raw(b"v" * (20 + i * 7)))
    for i in range(10):  # IPv6 with a hop-by-hop extension header before UDP
        pkts.append(Ether(src=a, dst=b) / IPv6(src="2001:db8::77", dst="2001:db8::88") / IPv6ExtHdrHopByHop()
                    / UDP(sport=7000, dport=7001 + i % 2) / Raw(b"h" * (100 + i)))
    for n, p in enumerate(pkts):
        p.time = 1_790_000_000 + n * 0.01
    wrpcap(path, pkts)


def receive(port, out_path, expect_idle=3.0, max_wait=60.0):
    """Writes every datagram sent to 127.0.0.1:port into a pcap until nothing
    arrives for expect_idle seconds (after the first one)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.2)
    got = []
    start = last = time.time()
    while time.time() - start < max_wait:
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            if got and time.time() - last > expect_idle:
                break
            continue
        last = time.time()
        got.append((data, src))
    pkts = []
    for n, (data, src) in enumerate(got):
        p = (Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP(src=src[0], dst="127.0.0.1")
             / UDP(sport=src[1] if n == 0 else pkts[0][UDP].sport, dport=6343) / Raw(data))
        p.time = 1_790_000_100 + n * 0.001
        pkts.append(p)
    wrpcap(out_path, pkts)
    return len(pkts)


def replay(pcap_path, port):
    """Sends each UDP payload of a capture to 127.0.0.1:port, paced."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    for p in rdpcap(pcap_path):
        if UDP in p:
            s.sendto(bytes(p[UDP].payload), ("127.0.0.1", port))
            n += 1
            time.sleep(0.002)
    return n


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "traffic":
        traffic(sys.argv[2])
    elif cmd == "receive":
        print(receive(int(sys.argv[2]), sys.argv[3]))
    elif cmd == "replay":
        print(replay(sys.argv[2], int(sys.argv[3])))
