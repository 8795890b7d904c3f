"""Keying the record layer from EDHOC (RFC 9528 Appendix A.1) and rekeying it.

``security_context(session)`` derives the OSCORE Master Secret and Master Salt with
EDHOC_Exporter (labels 0 and 1, empty context) and maps C_R/C_I to the Sender/Recipient
IDs. ``key_update(session, context)`` runs EDHOC_KeyUpdate (RFC 9528 Appendix H) and
derives a fresh context; both sides must call it with the same ``context`` bytes.
"""

from secure_channel.oscore import context as oscore
from secure_channel.errors import RECORD_CONFIG, RecordError


def security_context(session, **limits):
    """A new oscore.SecurityContext for a completed EDHOC session (either role).

    ``limits`` are passed on: replay_window, max_messages, max_age, now, max_seq.
    """
    if not session.completed:
        raise RecordError(RECORD_CONFIG, "EDHOC session not completed")
    secret, salt, sender_id, recipient_id, aead_alg, _ = session.oscore_parameters()
    return oscore.SecurityContext(secret, salt, sender_id, recipient_id,
                                  aead_alg=aead_alg, **limits)


def key_update(session, context, **limits):
    """EDHOC_KeyUpdate(context), then the replacement security context."""
    session.key_update(context)
    return security_context(session, **limits)
