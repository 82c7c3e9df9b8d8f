"""A peer that accepts TCP connections and never answers: the upstream that
hangs. Holds each connection open until the process is killed.

Usage: blackhole.py PORT
"""
import socket
import sys

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(64)
held = []
while True:
    conn, _ = server.accept()
    held.append(conn)  # kept open, never read from nor written to
