"""The Python side of impl/mp/shared_memory_interop_test.cc: CPython's own
ShareableList reading and writing a list that mp made, and making one for mp.

  shareable_list_peer.py attach NAME   reads NAME, writes new values, reports
  shareable_list_peer.py create        makes a list, reports it, waits for a
                                       line on stdin, reports it again, unlinks

Reports are one line per item, "<type> <hex of the value's bytes>" (str as
UTF-8; int and bool in decimal, float as float.hex()), then "format <fmt>",
"len <n>" and, for `create`, "raw <hex of the whole segment>".
"""

import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList


def describe(value):
    if value is None:
        return "None -"
    if isinstance(value, bool):
        return "bool %d" % value
    if isinstance(value, int):
        return "int %d" % value
    if isinstance(value, float):
        return "float %s" % value.hex()
    if isinstance(value, str):
        return "str %s" % (value.encode("utf8").hex() or "-")
    return "bytes %s" % (value.hex() or "-")


def report(sl, raw=False):
    for value in sl:
        print(describe(value))
    print("format %s" % (sl.format or "-"))
    print("len %d" % len(sl))
    if raw:
        print("raw %s" % bytes(sl.shm.buf).hex())
    print("end", flush=True)


def main():
    if sys.argv[1] == "attach":
        sl = ShareableList(name=sys.argv[2])
        # An attaching CPython registers the segment with its resource
        # tracker, which would unlink it when this process exits.
        resource_tracker.unregister(sl.shm._name, "shared_memory")
        report(sl)
        sl[0] = -(2**62)
        sl[1] = "PY"
        sl[2] = b"\x00raw"
        sl[3] = 0.1
        sl[4] = None
        sl[5] = False
        sl[6] = "h\u00e9"
        report(sl)
        sl.shm.close()
    else:
        sl = ShareableList(["howdy", b"HoWdY", -273.154, 100, None, True, 42, "", b"",
                            "h\u00e9h\u00e9"])
        print("name %s" % sl.shm.name, flush=True)
        report(sl, raw=True)
        sys.stdin.readline()
        report(sl)
        sl.shm.close()
        sl.shm.unlink()


if __name__ == "__main__":
    main()
