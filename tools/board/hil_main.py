"""The pump firmware as a device in the loop (docs/hil.md): it serves the host's
hardware-in-the-loop requests, one line each, until the host says ``quit``.

Under the WebAssembly port (``pumpsim run --device micropython``) the runner feeds the
host's lines from its stdin to ``handle_line`` and writes the answers to its stdout. On a board (``pumpsim run --device /dev/ttyACM0``) the
lines travel on the USB serial console: copy this file to the board as ``main.py`` with
``tools/board/deploy.py --hil``.
"""

from pump.board import hil

try:
    import hostio                   # the WebAssembly runner (run.mjs --stdio) drives us
except ImportError:
    hostio = None

if hostio is not None:
    # run.mjs calls handle_line for each line of stdin: with no Python frame left between
    # requests, the port's garbage collector can free what a request left behind.
    _server = hil.Server()
    handle_line = _server.line
    serving = _server.serving
else:
    import sys

    def _read():
        line = sys.stdin.readline()
        return line if line else None

    hil.serve(_read, lambda line: sys.stdout.write(line + "\n"))
