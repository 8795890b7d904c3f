"""Moving messages: COBS+CRC framing, the framed link, the in-memory transport."""
