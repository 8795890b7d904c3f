"""What the firmware layers share below them all: hardware faults (``hal.faults``)."""
