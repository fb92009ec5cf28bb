#!/usr/bin/env python3
"""A remote SPAN for the lab where the kernel has no gretap or erspan
devices (this one is built without CONFIG_NET_IPGRE_DEMUX): every Ethernet
frame arriving at IN leaves through OUT wrapped as a switch would send it,
from SRC_IP to DST_IP (DST_MAC on the link):
  erspan2  GRE with a sequence number, ERSPAN type II, session 7
  gretap   GRE with key 5, transparent Ethernet bridging
Frames keep their order; one at a time, as they come.

usage: tunnel_relay.py KIND IN OUT SRC_IP DST_IP DST_MAC   (runs until killed)
"""
import socket
import struct
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def checksum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src, dst, proto, payload):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def wrapper(kind):
    if kind == "erspan2":
        def wrap(frame, seq):
            erspan = struct.pack("!HHI", 0x1000, 7, 0)  # version 1 (type II), session 7
            return struct.pack("!HHI", 0x1000, 0x88BE, seq) + erspan + frame
    elif kind == "gretap":
        def wrap(frame, seq):
            return struct.pack("!HHI", 0x2000, 0x6558, 5) + frame
    else:
        sys.exit(f"tunnel_relay.py: no tunnel kind {kind}")
    return wrap


def main():
    kind, inbound, outbound, src_ip, dst_ip, dst_mac = sys.argv[1:7]
    wrap = wrapper(kind)
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind((inbound, 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((outbound, 0))
    with open(f"/sys/class/net/{outbound}/address") as f:
        src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    link = bytes.fromhex(dst_mac.replace(":", "")) + src_mac + b"\x08\x00"
    print("tunnel relay up", flush=True)
    seq = 0
    while True:
        frame, address = rx.recvfrom(65536)
        if address[2] == PACKET_OUTGOING:
            continue
        seq += 1
        tx.send(link + ipv4(src, dst, 47, wrap(frame, seq)))


if __name__ == "__main__":
    main()
