#!/usr/bin/env python3
"""A watcher that never reads: opens GET /v1/events on PORT with a tiny receive
buffer, prints "open" once the request is sent, then holds the socket without
reading for at most HOLD seconds (the test kills it by pid before that).

  stalled-watcher.py PORT HOLD
"""
import socket
import sys
import time

port, hold = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
s.connect(("127.0.0.1", port))
s.sendall(("GET /v1/events?type=member,job,ack,ledger,log&level=debug HTTP/1.1\r\n"
           "Host: 127.0.0.1:%d\r\n\r\n" % port).encode())
print("open", flush=True)
time.sleep(hold)
