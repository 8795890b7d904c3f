"""Login attempts (table web_logins) and the limits on them.

Every attempt is a row: who (the name typed, cut to 64 characters), from where (the
remote address the server saw: X-Forwarded-For is not believed), when, and how it ended:
``ok``, ``wrong password or code``, ``rate-limited``, ``bad form``. Each is also a security
event (source ``web``), so the caregiver sees failed logins on the page itself.

The limits: PER_REMOTE (5) failures from one address, or PER_ACCOUNT (10) on one name
from anywhere, within WINDOW_S (15 min) and since the last good login there, and the next
attempt is refused with 429 before the password is looked at. A failure is a wrong password
or code; an attempt still being checked counts as one, so parallel requests cannot slip
past the limit while the hash runs (the check and the row are one transaction). Refused
attempts are logged but do not extend the lock: it lifts WINDOW_S after the failures.
The account's limit is twice the address's, so one address alone cannot lock the caregiver
out, while an attacker with many addresses still gets PER_ACCOUNT guesses per window.
"""

from sim.gateway.web.sql import security_event, transaction

WINDOW_S = 15 * 60
PER_REMOTE = 5
PER_ACCOUNT = 10
MAX_LOGGED_NAME = 64

OK = "ok"
WRONG = "wrong password or code"
LIMITED = "rate-limited"
BAD_FORM = "bad form"
BUSY = "busy: other logins being checked"
_CHECKING = "checking"
_FAILURES = (WRONG, _CHECKING)


def _shown(name):
    """The typed name as it is logged: printable, at most MAX_LOGGED_NAME characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(name))
    return text[:MAX_LOGGED_NAME]


def _failure_times(db, column, value, now):
    """Times of the failures counted against ``column = value``: inside the window and
    after the last good login there."""
    last_ok = db.execute("SELECT MAX(id) FROM web_logins WHERE %s = ? AND ok = 1" % column,
                         (value,)).fetchone()[0] or 0
    return [row[0] for row in db.execute(
        "SELECT at_s FROM web_logins WHERE %s = ? AND at_s > ? AND id > ? AND ok = 0 "
        "AND detail IN (?, ?) ORDER BY at_s" % column,
        (value, now - WINDOW_S, last_ok) + _FAILURES)]


def _retry_after(times, limit, now):
    """Seconds until fewer than ``limit`` of ``times`` are inside the window."""
    return max(1, int(times[len(times) - limit] + WINDOW_S - now) + 1)


def begin(store, name, remote, now):
    """Start an attempt. Returns (attempt id, None) when the password may be checked, or
    (None, seconds to wait) when a limit refuses it (logged already)."""
    name = _shown(name)
    with transaction(store) as db:
        for column, value, limit, whose in (("remote", remote, PER_REMOTE, "from " + remote),
                                            ("name", name, PER_ACCOUNT, "for " + name)):
            times = _failure_times(db, column, value, now)
            if len(times) >= limit:
                wait = _retry_after(times, limit, now)
                db.execute("INSERT INTO web_logins (at_s, name, remote, ok, detail) "
                           "VALUES (?, ?, ?, 0, ?)", (now, name, remote, LIMITED))
                security_event(db, now, "web login rate-limited",
                               "%r from %s refused unchecked: %d failures %s in %d min"
                               % (name, remote, len(times), whose, WINDOW_S // 60))
                return None, wait
        cursor = db.execute("INSERT INTO web_logins (at_s, name, remote, ok, detail) "
                            "VALUES (?, ?, ?, 0, ?)", (now, name, remote, _CHECKING))
        return cursor.lastrowid, None


def finish(store, attempt, name, remote, now, detail):
    """End attempt ``attempt`` with ``detail`` (OK or WRONG)."""
    name = _shown(name)
    ok = detail == OK
    with transaction(store) as db:
        db.execute("UPDATE web_logins SET ok = ?, detail = ? WHERE id = ?",
                   (1 if ok else 0, detail, attempt))
        security_event(db, now, "web login" if ok else "web login failed",
                       "%r from %s: %s" % (name, remote, detail))


def refuse(store, name, remote, now, detail):
    """An attempt refused before any check (a form without its CSRF token)."""
    name = _shown(name)
    with transaction(store) as db:
        db.execute("INSERT INTO web_logins (at_s, name, remote, ok, detail) "
                   "VALUES (?, ?, ?, 0, ?)", (now, name, remote, detail))
        security_event(db, now, "web login refused", "%r from %s: %s" % (name, remote, detail))
