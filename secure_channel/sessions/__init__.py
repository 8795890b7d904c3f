"""The pump's sessions: peers, trust list, back-off, refusal log, EDHOC over CoAP."""
