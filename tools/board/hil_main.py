"""The pump firmware as a device in the loop (docs/hil.md): it serves the host's
hardware-in-the-loop requests, one line each, until the host says ``quit``.

Under the WebAssembly port (``pumpsim run --device micropython``) the runner feeds the
host's lines from its stdin to ``handle_line`` and writes the answers to its stdout. On a board (``pumpsim run --device /dev/ttyACM0``) the
lines travel on the USB serial console: copy this file to the board as ``main.py`` with
``tools/board/deploy.py --hil``.
"""

import gc

# While the firmware imports, collect every IMPORT_GC_BYTES allocated: garbage then never
# piles up between the modules' long-lived objects. Without it the holes it leaves make
# the default day need about half as much heap again (docs/boards.md, the figures). Then
# back to the port's own setting.
IMPORT_GC_BYTES = 8192
_threshold = gc.threshold()
gc.threshold(IMPORT_GC_BYTES)
from pump.board import hil  # noqa: E402
gc.threshold(_threshold)

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
