"""A serial port through pyserial (host side): real ports, ``loop://``, ``socket://``.

``open_serial(url)`` accepts anything ``serial.serial_for_url`` does: a device name
(``/dev/ttyUSB0``, a PTY slave path, ``COM3``), ``loop://`` (a loopback, for tests) or
``socket://host:port`` (a raw TCP byte stream, e.g. to a board behind ser2net). The port
is opened 8N1, without flow control, so every byte value passes. Thin: bytes only; the
framing does the rest. This is the only firmware-package module that imports pyserial;
on a board the UART transport is ``machine.UART`` with the same three methods.
"""

import serial


class SerialTransport:
    def __init__(self, port):
        self.port = port

    def write(self, data):
        return self.port.write(bytes(data))

    def read(self, max_bytes=4096, timeout=0):
        """What has arrived, waiting up to ``timeout`` s for the first byte."""
        port = self.port
        waiting = port.in_waiting
        if waiting:
            return port.read(min(waiting, max_bytes))
        port.timeout = timeout
        first = port.read(1)
        if not first:
            return b""
        more = min(port.in_waiting, max_bytes - 1)
        return first + (port.read(more) if more > 0 else b"")

    def close(self):
        self.port.close()


def open_serial(url, baudrate=115200):
    """Open ``url`` (device path or pyserial URL) as a SerialTransport."""
    port = serial.serial_for_url(url, baudrate=baudrate, bytesize=serial.EIGHTBITS,
                                 parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                                 xonxoff=False, rtscts=False, timeout=0)
    return SerialTransport(port)
