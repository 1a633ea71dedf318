#!/usr/bin/env python3
"""fabric-capture: what a bystander on the loopback sees of the fabric.

  fabric-capture.py record OUTDIR PORT...
      Captures every TCP segment to or from PORT... on the loopback interface
      (an AF_PACKET socket: root or CAP_NET_RAW; exit 77 without), until
      SIGTERM.  Writes OUTDIR/ready once capturing, then at the end
      OUTDIR/all.bin (every payload byte, in capture order) and one file per
      flow, OUTDIR/flow-SPORT-DPORT.bin, its bytes reassembled by sequence
      number.
  fabric-capture.py frames FLOWFILE TYPE OUTDIR
      Reads a flow (nng's TCP transport: an 8-byte SP header, then messages
      of a 64-bit big-endian length and the bytes; a message is a batch
      envelope, 0xCB, or one bare frame) and writes every chorus frame of
      wire TYPE found in it to OUTDIR/frame-N.bin; prints how many.

The e2e tests use it to show that a marker sent as job data never crosses
the wire in clear, and to cut a dispatch frame out of real traffic and
replay it.
"""
import os
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def record(outdir, ports):
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind(("lo", 0))
        # A large buffer: the loop below is python, traffic comes in bursts, and a
        # segment the kernel drops for want of room is a hole in a reassembled flow.
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    except (PermissionError, OSError) as e:
        print("fabric-capture: cannot capture: %s" % e, file=sys.stderr)
        sys.exit(77)
    s.settimeout(0.2)
    ports = set(int(p) for p in ports)
    flows, stop = {}, []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    allf = open(os.path.join(outdir, "all.bin"), "wb")
    open(os.path.join(outdir, "ready"), "w").close()
    while not stop:
        try:
            pkt, addr = s.recvfrom(262144)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if addr[2] == PACKET_OUTGOING:  # loopback shows each packet twice
            continue
        ip = pkt[14:]  # lo has an Ethernet header of zeros
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        data = tcp[(tcp[12] >> 4) * 4:]
        if not data or (sport not in ports and dport not in ports):
            continue
        allf.write(data)
        flows.setdefault((sport, dport), {})[seq] = data
    allf.close()
    for (sport, dport), segs in flows.items():
        out, nxt = bytearray(), None
        for seq in sorted(segs):
            d = segs[seq]
            if nxt is not None and seq < nxt:
                d = d[nxt - seq:]
            out += d
            nxt = seq + len(segs[seq]) if nxt is None else max(nxt, seq + len(segs[seq]))
        open(os.path.join(outdir, "flow-%d-%d.bin" % (sport, dport)), "wb").write(out)


def frames(flowfile, typ, outdir):
    b = open(flowfile, "rb").read()
    if len(b) < 8 or b[1:3] != b"SP":
        print(0)
        return
    i, n = 8, 0
    while i + 8 <= len(b):
        ln = struct.unpack(">Q", b[i:i + 8])[0]
        msg = b[i + 8:i + 8 + ln]
        i += 8 + ln
        if len(msg) < ln:
            break
        found = []
        if msg[:1] == b"\xcb" and len(msg) >= 4:
            count, j = struct.unpack(">H", msg[2:4])[0], 4
            for _ in range(count):
                fl = struct.unpack(">I", msg[j:j + 4])[0]
                found.append(msg[j + 4:j + 4 + fl])
                j += 4 + fl
        else:
            found.append(msg)
        for f in found:
            if len(f) > 4 and f[:2] == b"CH" and f[3] == typ:
                open(os.path.join(outdir, "frame-%d.bin" % n), "wb").write(f)
                n += 1
    print(n)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 5 and sys.argv[1] == "frames":
        frames(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
