"""CoAP (RFC 7252) for the pump: the message codec and its numbers. Sans-IO, firmware-side."""
