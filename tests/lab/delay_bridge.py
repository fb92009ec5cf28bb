#!/usr/bin/env python3
"""A long link for the lab: forwards every Ethernet frame between two
interfaces, each after a fixed delay (this kernel has no netem). Frames keep
their order; nothing is dropped unless a socket buffer overflows.

usage: delay_bridge.py IFACE_A IFACE_B DELAY_MS   (runs until killed)
"""
import collections
import socket
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def forward(src, dst, delay):
    """Frames arriving at src leave through dst `delay` seconds later."""
    queue = collections.deque()
    ready = threading.Condition()

    def send():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, frame = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with ready:
                queue.popleft()
            dst.send(frame)

    threading.Thread(target=send, daemon=True).start()
    while True:
        frame, address = src.recvfrom(65536)
        if address[2] == PACKET_OUTGOING:
            continue  # our own sends on this interface
        with ready:
            queue.append((time.monotonic() + delay, frame))
            ready.notify()


def main():
    a, b, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sockets = []
    for name in (a, b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((name, 0))
        sockets.append(s)
    delay = delay_ms / 1000.0
    threading.Thread(target=forward, args=(sockets[1], sockets[0], delay), daemon=True).start()
    print("delay bridge up", flush=True)
    forward(sockets[0], sockets[1], delay)


if __name__ == "__main__":
    main()
