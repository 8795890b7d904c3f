"""The page's accounts (table web_users): a name, an Argon2id hash, an optional TOTP secret.

There is no default account and no default password: until one is set (``first_start``
or ``pumpsim web passwd``) the page shows only how to set it. Setting a password applies
the policy, replaces the hash and ends every session of the account.
"""

from sim.gateway.web import passwords, policy, totp
from sim.gateway.web.errors import WebError
from sim.gateway.web.sql import security_event, transaction

DEFAULT_NAME = "caregiver"
MAX_NAME = 64
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class Account:
    __slots__ = ("name", "password_hash", "totp_secret", "totp_last_step")

    def __init__(self, name, password_hash, totp_secret, totp_last_step):
        self.name = name
        self.password_hash = password_hash
        self.totp_secret = totp_secret
        self.totp_last_step = totp_last_step


def check_name(name):
    """An account name: 1..64 of letters, digits and ``._-@``; WebError otherwise."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME \
            or not set(name) <= _NAME_CHARS:
        raise WebError("account name %r: 1 to %d letters, digits or ._-@" % (name, MAX_NAME))
    return name


def any_account(db):
    return db.execute("SELECT 1 FROM web_users LIMIT 1").fetchone() is not None


def get(db, name):
    row = db.execute("SELECT name, password_hash, totp_secret, totp_last_step "
                     "FROM web_users WHERE name = ?", (name,)).fetchone()
    return None if row is None else Account(*row)


def set_password(store, name, password, now, second_factor=None):
    """Create the account or give it a new password (policy first; its sessions end).
    ``second_factor``: None keeps the account's TOTP as it is, True makes a new secret,
    False removes it. Returns the new TOTP secret, or None."""
    check_name(name)
    policy.check(password, name)
    hashed = passwords.hash_password(password)
    secret = totp.new_secret() if second_factor else None
    with transaction(store) as db:
        old = get(db, name)
        if old is None:
            db.execute("INSERT INTO web_users VALUES (?, ?, ?, NULL, ?, ?)",
                       (name, hashed, secret, now, now))
        else:
            db.execute("UPDATE web_users SET password_hash = ?, changed_s = ? WHERE name = ?",
                       (hashed, now, name))
            if second_factor is not None:
                db.execute("UPDATE web_users SET totp_secret = ?, totp_last_step = NULL "
                           "WHERE name = ?", (secret, name))
            db.execute("DELETE FROM web_sessions WHERE name = ?", (name,))
        what = "account %s created" % name if old is None else "password of %s set" % name
        if second_factor:
            what += ", new TOTP second factor"
        elif second_factor is False:
            what += ", no second factor"
        security_event(db, now, "web password set", what)
    return secret


def accept_step(store, name, step):
    """Record ``step`` as the account's newest accepted TOTP step; False when it (or a later
    one) was accepted already, so two requests racing with one code cannot both win."""
    with transaction(store) as db:
        cursor = db.execute(
            "UPDATE web_users SET totp_last_step = ? WHERE name = ? AND "
            "(totp_last_step IS NULL OR totp_last_step < ?)", (step, name, step))
        return cursor.rowcount == 1


def rehash(store, name, password):
    """After a good login with a hash made with older parameters: hash it again."""
    with transaction(store) as db:
        db.execute("UPDATE web_users SET password_hash = ? WHERE name = ?",
                   (passwords.hash_password(password), name))
