#!/usr/bin/env python3
"""A clear-text ACDP/1 client for end-to-end tests (docs/protocol.md): registers with a role,
sends one request and prints the answer as `key=value` words on one line.

  acdp_probe.py HOST:PORT CLIENT_ID ROLE route QUEUE CALL_ID
  acdp_probe.py HOST:PORT CLIENT_ID ROLE site-route QUEUE CALL_ID HOPS VISITED
  acdp_probe.py HOST:PORT CLIENT_ID ROLE summary SITE QUEUE_NAME READY EWT_MS

  acdp_probe.py --seal RELAY KEY_FILE SERVER_PUBLIC_KEY_FILE HOST:PORT ...: the same over ACDP/2,
      as the [[clients]] entry of KEY_FILE's public half (acdp_seal_relay makes the session).

ROLE: switch, desktop, supervisor or site. Answers: `answer=route result=R action=A status=S
agent=N agent_number=N target=T`, `answer=ack status=S` or `answer=error reason=N`; exit 0, or 1
when nothing came back within two seconds (sent three times, the same seq: a retransmission).
"""
import socket
import struct
import subprocess
import sys
import time

MAGIC = 0x50444341
ROLES = {"switch": 1, "desktop": 2, "supervisor": 3, "site": 4}
T_REGISTER, T_ROUTE, T_ROUTE_RESPONSE, T_ACK, T_ERROR = 1, 3, 4, 11, 12
T_SITE_SUMMARY, T_SITE_ROUTE = 16, 17


def datagram(client_id, messages):
    body = b""
    for kind, seq, payload in messages:
        body += struct.pack("<HHIQ", kind, 16 + len(payload), 0, seq) + payload
    return struct.pack("<IBBHII", MAGIC, 1, len(messages), 16 + len(body), client_id, 0) + body


def route_request(queue, call_id):
    # call_id, queue, media voice, priority, tier, verification, no language, no extra skills.
    return struct.pack("<QIBBBBHBB", call_id, queue, 0, 0, 0, 0, 0xFFFF, 0, 0) + bytes(20)


def queue_key(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def answers(data):
    """Yields (type, seq, body) of every message of an ACDP/1 datagram."""
    if len(data) < 16:
        return
    magic, _version, count, _length, _client, _epoch = struct.unpack_from("<IBBHII", data)
    if magic != MAGIC:
        return
    at = 16
    for _ in range(count):
        kind, length, _reserved, seq = struct.unpack_from("<HHIQ", data, at)
        yield kind, seq, data[at + 16:at + length]
        at += length


def describe(kind, body):
    if kind == T_ROUTE_RESPONSE:
        (_reply_to, _call, result, action, status, agent, agent_number, _queue, _position, _ewt,
         target) = struct.unpack_from("<QQBBHIQIIII", body)
        return (f"answer=route result={result} action={action} status={status} agent={agent} "
                f"agent_number={agent_number} target={target}")
    if kind == T_ACK:
        _reply_to, status, _flags, _agent = struct.unpack_from("<QHHI", body)
        return f"answer=ack status={status}"
    if kind == T_ERROR:
        _reply_to, reason = struct.unpack_from("<QH", body)
        return f"answer=error reason={reason}"
    return f"answer=type{kind}"


def pick(data):
    """The answer to the request in a datagram from acdd, described; None if it holds none."""
    for got, _seq, body in answers(data):
        reply_to = struct.unpack_from("<Q", body)[0] if len(body) >= 8 else 0
        if got != T_ACK or reply_to != 1:  # the Register's Ack is not the answer
            if reply_to == 2 or got == T_ERROR:
                return describe(got, body)
    return None


def main(argv):
    seal = None
    if argv[1] == "--seal":
        seal, argv = argv[2:5], argv[:1] + argv[5:]
    host, port = argv[1].rsplit(":", 1)
    client_id, role, what = int(argv[2]), ROLES[argv[3]], argv[4]
    args = argv[5:]
    if what == "route":
        kind, payload = T_ROUTE, route_request(int(args[0]), int(args[1]))
    elif what == "site-route":
        kind = T_SITE_ROUTE
        payload = route_request(int(args[0]), int(args[1])) + struct.pack(
            "<B7xQ", int(args[2]), int(args[3]))
    elif what == "summary":
        kind = T_SITE_SUMMARY
        seq_ms = int(time.time() * 1000) + 10_000_000  # above any honest sender's
        payload = struct.pack("<BBHIQIIHHI", int(args[0]), 1, 1000, queue_key(args[1]), seq_ms,
                              int(args[2]), int(args[3]), 0, 0, 0)
    else:
        print(f"unknown request {what}", file=sys.stderr)
        return 2
    nonce = int(time.time() * 1e9)
    out = datagram(client_id, [(T_REGISTER, 1, struct.pack("<IIQ", role, 0, nonce)),
                               (kind, 2, payload)])
    if seal:
        relay = subprocess.run([seal[0], argv[1], seal[1], seal[2]], input=out.hex() + "\n",
                               capture_output=True,
                               text=True, timeout=10)
        for line in relay.stdout.split():
            answer = pick(bytes.fromhex(line))
            if answer:
                print(answer)
                return 0
        print("answer=none " + relay.stderr.strip().replace("\n", " "))
        return 1
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.2)
    deadline = time.monotonic() + 2.0
    sends = 0
    while time.monotonic() < deadline:
        if sends < 3:
            sock.sendto(out, (host, int(port)))
            sends += 1
        try:
            data = sock.recv(9000)
        except socket.timeout:
            continue
        answer = pick(data)
        if answer:
            print(answer)
            return 0
    print("answer=none")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
