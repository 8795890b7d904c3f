"""A pseudo-terminal pair for two local processes (host side, CPython on POSIX).

``open_pty()`` returns the master end as a transport and the slave's device path. One
process keeps the master; the other opens the path (``open_path``, or pyserial through
``transport_serial``, since a PTY slave is a serial port to it). Both ends are put in raw
mode first: no echo, no line editing, no CR/LF translation, so every byte value passes
unchanged, as the framing needs.
"""

import os
import select
import tty


class FdTransport:
    """Bytes over a file descriptor (PTY master or slave); ``read`` waits up to ``timeout``."""

    def __init__(self, fd):
        self.fd = fd

    def write(self, data):
        return os.write(self.fd, bytes(data))

    def read(self, max_bytes=4096, timeout=0):
        if self.fd is None:
            raise OSError("transport closed")
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.fd, max_bytes)
        except OSError:            # the other side hung up (EIO on a PTY master)
            return b""

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_pty():
    """Create a PTY pair in raw mode; return (master transport, slave device path).

    This process keeps a slave descriptor open until ``close_slave(master)``, so the pair
    stays up (and reads on the master do not fail) until the peer process has opened the
    path. The peer should announce itself before the master sends: a peer that opens the
    port with pyserial flushes whatever arrived before.
    """
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    transport = FdTransport(master)
    transport.slave_fd = slave
    return transport, path


def open_path(path):
    """Open a PTY slave (or any tty) by path in raw mode, as a transport."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return FdTransport(fd)


def close_slave(transport):
    """Close the slave descriptor that ``open_pty`` kept open for the peer process."""
    fd = getattr(transport, "slave_fd", None)
    if fd is not None:
        os.close(fd)
        transport.slave_fd = None
