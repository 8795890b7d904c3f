"""Child process for the PTY test: opens the PTY slave with pyserial, echoes frames back.

    python pty_echo_child.py SLAVE_PATH

It first sends b"ready" (pyserial flushes the input buffer when it opens a port, so the
parent waits for that before sending). Every payload P is answered with b"echo:" + P;
b"stats" is answered with the deframer's drop counts; b"quit" ends the process. Exits by
itself after 20 s of silence, so a failed parent never leaves it behind.
"""

import sys
import time

from secure_channel.link.framed import FramedLink
from sim.transport_serial import open_serial


def main(path):
    link = FramedLink(open_serial(path))
    link.send(b"ready")
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 20:
        for payload in link.poll(timeout=0.05):
            idle_since = time.monotonic()
            if payload == b"quit":
                link.close()
                return 0
            if payload == b"stats":
                dropped = link.deframer.dropped
                link.send(b"stats:" + b",".join(
                    b"%s=%d" % (k.encode(), dropped[k]) for k in sorted(dropped)))
            else:
                link.send(b"echo:" + payload)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
