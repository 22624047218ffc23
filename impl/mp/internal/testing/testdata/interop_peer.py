"""CPython's side of the wire-compatibility tests (connection_interop_test.cc).

  interop_peer.py client ADDRESS KEY SIZES   Client(ADDRESS, authkey=KEY)
  interop_peer.py server FAMILY KEY SIZES    Listener(family=FAMILY, authkey=KEY);
                                             prints its address, accepts one peer
ADDRESS is "tcp HOST PORT" or "unix NAME" (a leading "@" stands for the NUL of
a Linux abstract name) as one argument; KEY is "-" for no authkey; SIZES is a
comma-separated list. For each size n the C++ side sends pattern(n) and this
side checks it, then sends pattern(n) back. Exit codes: 0 ok, 3 the
handshake raised AuthenticationError, 4 a payload differed.
"""

import sys
from multiprocessing.connection import Client, Listener
from multiprocessing import AuthenticationError


def pattern(n):
    block = bytes(range(256))
    start = n % 256
    return (block * (n // 256 + 2))[start:start + n]


def parse_address(text):
    kind, _, rest = text.partition(" ")
    if kind == "tcp":
        host, port = rest.split(" ")
        return (host, int(port))
    return "\0" + rest[1:] if rest.startswith("@") else rest


def format_address(address):
    if isinstance(address, tuple):
        return "tcp %s %d" % address
    return "unix " + ("@" + address[1:] if address.startswith("\0") else address)


def exchange(conn, sizes):
    for n in sizes:
        got = conn.recv_bytes()
        if got != pattern(n):
            print("payload of %d bytes differs (got %d bytes)" % (n, len(got)), flush=True)
            return 4
        conn.send_bytes(pattern(n))
    return 0


def main(argv):
    role, where, key, sizes = argv[1:5]
    authkey = None if key == "-" else key.encode()
    sizes = [int(s) for s in sizes.split(",") if s]
    try:
        if role == "client":
            with Client(parse_address(where), authkey=authkey) as conn:
                return exchange(conn, sizes)
        with Listener(family=where, authkey=authkey) as listener:
            print(format_address(listener.address), flush=True)
            with listener.accept() as conn:
                return exchange(conn, sizes)
    except AuthenticationError as e:
        print("AuthenticationError: %s" % e, flush=True)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
