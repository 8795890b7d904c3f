"""Login sessions, kept on the server (table web_sessions).

The browser holds only a random token (32 bytes from ``secrets``) in a cookie; the store
holds its SHA-256, so a copy of the store does not hold a usable cookie. A session ends

- IDLE_S (30 min) after the last request that showed it (the open page's polling counts:
  a page left open keeps showing data; a closed one is logged out half an hour later);
- ABSOLUTE_S (12 h) after the login, however busy;
- at logout, and when the account's password is set again.

A new token is made at every login and any token the browser sent is deleted first, so a
token planted before the login (session fixation) is never logged in. The last-seen time
is written at most every SEEN_EVERY_S seconds, so polling does not write the store
at every request (idle expiry is exact to that much).
"""

import hashlib
import secrets

from sim.gateway.web.sql import transaction

IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600
SEEN_EVERY_S = 30
TOKEN_BYTES = 32
_TOKEN_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Session:
    __slots__ = ("name", "csrf", "token_hash")

    def __init__(self, name, csrf, token_hash):
        self.name = name
        self.csrf = csrf
        self.token_hash = token_hash


def token_hash(token):
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _well_formed(token):
    return isinstance(token, str) and 20 <= len(token) <= 100 and set(token) <= _TOKEN_CHARS


def create(store, name, remote, now, old_token=None, absolute_s=ABSOLUTE_S):
    """A new session for ``name``: returns (token for the cookie, CSRF token)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(store) as db:
        if _well_formed(old_token):
            db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash(old_token),))
        db.execute("DELETE FROM web_sessions WHERE expires_s <= ?", (now,))
        db.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (token_hash(token), name, csrf, remote, now, now, now + absolute_s))
    return token, csrf


def lookup(store, token, now, idle_s=IDLE_S):
    """The live session of ``token``, or None (an expired one is deleted)."""
    if not _well_formed(token):
        return None
    digest = token_hash(token)
    row = store.db.execute("SELECT name, csrf, seen_s, expires_s FROM web_sessions "
                           "WHERE token_hash = ?", (digest,)).fetchone()
    if row is None:
        return None
    name, csrf, seen_s, expires_s = row
    if now >= expires_s or now >= seen_s + idle_s:
        end(store, token)
        return None
    if now - seen_s >= SEEN_EVERY_S:
        with transaction(store) as db:
            db.execute("UPDATE web_sessions SET seen_s = ? WHERE token_hash = ?",
                       (now, digest))
    return Session(name, csrf, digest)


def end(store, token):
    if _well_formed(token):
        with transaction(store) as db:
            db.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash(token),))
