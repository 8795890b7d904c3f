# Frozen-module manifest: a MicroPython firmware with the pump firmware frozen in.
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/tools/board/manifest.py
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/tools/board/manifest.py
#
# Paths are relative to this file (tools/board/). The port's own manifest comes first, so
# the board keeps its usual frozen modules. Two frozen modules are never imported on a
# board (secure_channel/backend_cryptography.py, pump/fsm_transitions_adapter.py: both are
# tried only where their CPython library imports); they cost a few KB of flash, no RAM.
include("$(PORT_DIR)/boards/manifest.py")

for name in ("hal", "pump", "secure_channel", "bootloader"):
    package(name, base_path="../..", opt=3)

module("main.py", base_path=".")
