"""main.py for a MicroPython board: the pump firmware serving its secure channel on a UART.

tools/board/deploy.py copies this file, the compiled firmware packages and the key files
to the board. Edit BOARD below for your wiring (docs/boards.md: ESP32 and RP2040).
Key files on the board's file system (from ``pumpsim keys init``): pump.key, trust.cbor,
and log.key (the audit log's MAC key, 32 bytes). They lie there in the clear: a reference
set-up, not a product (docs/boards.md says what a product needs instead).
"""

import gc
import machine
import os
import time

# While the firmware imports, collect every IMPORT_GC_BYTES allocated: garbage then never
# piles up between the modules' long-lived objects. Without it the holes it leaves make
# the default day need about half as much heap again (docs/boards.md, the figures). Then
# back to the port's own setting.
IMPORT_GC_BYTES = 8192
_threshold = gc.threshold()
gc.threshold(IMPORT_GC_BYTES)
from pump.board import hal as B  # noqa: E402
from pump.board.node import BoardNode, read_identity, read_trust  # noqa: E402
gc.threshold(_threshold)

BOARD = {
    "uart": 1, "baudrate": 115200, "tx": 4, "rx": 5,    # ESP32; RP2040: 0, tx 0, rx 1
    "step": 12, "enable": 13, "button": 14, "alarm": 15,
    "flash_file": "/pump-flash.bin", "flash_size": 64 * 1024, "store_prefix": "/pump-store-",
}


def main():
    with open("/log.key", "rb") as f:
        log_key = f.read()
    link = B.open_uart(machine, BOARD["uart"], BOARD["baudrate"], time,
                       tx=BOARD["tx"], rx=BOARD["rx"])
    Pin = machine.Pin
    hw = B.BoardHardware(
        B.board_clock(time),
        B.PinMotor(Pin(BOARD["step"], Pin.OUT), Pin(BOARD["enable"], Pin.OUT)),
        B.ButtonUI(Pin(BOARD["button"], Pin.IN, Pin.PULL_UP), time,
                   alarm_pin=Pin(BOARD["alarm"], Pin.OUT), trigger=Pin.IRQ_FALLING),
        B.urandom_rng(os),
        B.FileSecureStore(os, BOARD["store_prefix"]),
        watchdog=B.BoardWatchdog(machine.WDT(timeout=8000) if hasattr(machine, "WDT")
                                 else None))
    flash = B.FileFlash(BOARD["flash_file"], BOARD["flash_size"], 4096, 4)
    node = BoardNode(hw, flash, log_key, read_identity("/pump.key"),
                     read_trust("/trust.cbor"), link)
    print("pump serving on UART %d at %d baud, state %s"
          % (BOARD["uart"], BOARD["baudrate"], node.pump.state))
    node.serve(time.sleep_ms)


main()
