"""A scripted IRC client for sensor/tests/live_servers.rs (Debian packages no
command-line one): registers, joins a channel, asks WHOIS of a nick that does
not exist, pings the server, quits. It answers the server's PINGs."""
import socket
import sys

sock = socket.create_connection((sys.argv[1], 6667), timeout=10)
buf = b""


def until(codes):
    """Reads lines until one whose command or numeric is in `codes`."""
    global buf
    while True:
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            words = line.split(b" ")
            if words[0] == b"PING":
                sock.sendall(b"PONG " + words[1] + b"\r\n")
            if len(words) > 1 and words[1] in codes:
                return
        data = sock.recv(4096)
        if not data:
            sys.exit("the server closed the connection")
        buf += data


sock.sendall(b"NICK tester\r\nUSER tester 0 * :Tester\r\n")
until([b"376", b"422"])
sock.sendall(b"JOIN #lab\r\n")
until([b"366"])
sock.sendall(b"WHOIS ghost\r\n")
until([b"318"])
sock.sendall(b"PING :t1\r\n")
until([b"PONG"])
sock.sendall(b"QUIT :bye\r\n")
sock.close()
