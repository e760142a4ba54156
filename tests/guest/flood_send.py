#!/usr/bin/env python3
"""Floods the host side of a test guest's device for a few seconds, never
reading: flood_send.py tap IFNAME SECONDS sends broadcast Ethernet frames on a
tap (run inside the test's network namespace); flood_send.py unix PATH SECONDS
connects to a virtio-console port's socket (waiting for it) and writes as fast
as the socket takes it. Prints how many frames or bytes went out. A fourth
argument names a file created once the script runs (Python may take seconds to
start on a loaded host: the test waits for it before it starts the guest)."""
import socket
import sys
import time


def tap(ifname, secs):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    s.setblocking(False)
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x02" + b"\x88\xb5" + b"f" * 1000
    sent = 0
    end = time.time() + secs
    while time.time() < end:
        try:
            s.send(frame)
            sent += 1
        except OSError:
            time.sleep(0.001)       # no carrier yet, or the queue is full
    print(sent)


def unix(path, secs):
    end = time.time() + 60
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            if time.time() > end:
                sys.exit("flood_send: no socket at " + path)
            time.sleep(0.05)
    s.setblocking(False)
    buf = b"y" * 65536
    sent = 0
    end = time.time() + secs
    while time.time() < end:
        try:
            sent += s.send(buf)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    print(sent)


if __name__ == "__main__":
    kind, where, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if len(sys.argv) > 4:
        open(sys.argv[4], "w").close()
    tap(where, secs) if kind == "tap" else unix(where, secs)
