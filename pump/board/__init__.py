"""The pump on a MicroPython board: HAL objects over the port's ``machine``, ``time`` and
``os`` modules (``pump.board.hal``) and the firmware wired to a UART (``pump.board.node``).

The port's modules are passed in, never imported here, so the same code runs with small
fakes under the WebAssembly port and on CPython in the tests.
"""
