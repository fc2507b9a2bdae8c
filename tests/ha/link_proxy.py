#!/usr/bin/env python3
"""A TCP relay between a standby and its primary's replication address, for tests.

Usage: link_proxy.py LISTEN_PORT TARGET_PORT
Relays every connection to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, both ways. Stopping
it (SIGSTOP) freezes the link with data in flight; killing it (SIGKILL) drops that data, as a
cable cut does: what the primary sent is then lost to the standby.
"""
import selectors
import socket
import sys


def main() -> None:
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(4)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    peers = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is server:
                client, _ = server.accept()
                try:
                    upstream = socket.create_connection(("127.0.0.1", target_port), timeout=1)
                except OSError:
                    client.close()
                    continue
                for s in (client, upstream):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(s, selectors.EVENT_READ)
                peers[client], peers[upstream] = upstream, client
                continue
            other = peers.get(sock)
            try:
                data = sock.recv(65536)
                if data and other is not None:
                    other.sendall(data)
            except OSError:
                data = b""
            if not data or other is None:
                for s in (sock, other):
                    if s is not None and s in peers:
                        sel.unregister(s)
                        s.close()
                        del peers[s]
                continue


if __name__ == "__main__":
    main()
