"""Setting the password on the gateway itself: at first start, and with ``passwd``.

On a terminal the password is read twice without echo (getpass) and asked again when the
policy refuses it; otherwise one line is read from stdin (a script, a service manager's
credential), and a refusal is an error. A new TOTP secret is printed once, as an
``otpauth://`` URI for an authenticator app; it is not shown again.
"""

import getpass
import time

from sim.gateway.store import Store
from sim.gateway.web import accounts, policy, totp
from sim.gateway.web.errors import PolicyError, WebError

TRIES = 3
INSTRUCTION = ("no account for the web page yet: until one is set with `pumpsim web --db %s "
               "passwd`, the page shows only that instruction")


def _ask(stdin, stdout, name):
    """A password the policy accepts, from the terminal or one line of stdin; None when
    nothing was given. PolicyError for a refused one (on a terminal: after TRIES)."""
    if not stdin.isatty():
        line = stdin.readline()
        if not isinstance(line, str):
            line = line.decode("utf-8")
        line = line.rstrip("\r\n")
        if line:
            policy.check(line, name)
        return line or None
    for attempt in range(TRIES):
        try:
            first = getpass.getpass("New password for %s: " % name, stream=stdout)
            if not first:
                return None
            try:
                policy.check(first, name)
            except PolicyError as exc:
                if attempt == TRIES - 1:
                    raise
                print("%s; try another" % exc, file=stdout, flush=True)
                continue
            if getpass.getpass("Again: ", stream=stdout) != first:
                raise WebError("the two passwords differ; nothing was changed")
            return first
        except EOFError:
            return None
    return None


def _set(db_path, stdin, stdout, name, second_factor, clock):
    password = _ask(stdin, stdout, name)
    if password is None:
        return None
    store = Store(db_path, clock)
    try:
        secret = accounts.set_password(store, name, password, int(clock()), second_factor)
    finally:
        store.close()
    if secret is not None:
        print("second factor (shown once): add this to an authenticator app:\n%s"
              % totp.uri(secret, name), file=stdout, flush=True)
    return True


def first_start(db_path, stdin, stdout, *, name=accounts.DEFAULT_NAME, second_factor=False,
                clock=time.time):
    """When the store has no account yet: ask for a password (policy applied) and create
    ``name`` with it (and a TOTP second factor with ``second_factor``). Returns True when it
    created the account, False when one existed or none was given (then it says how to set
    one: the page shows only that until then). WebError for a refused password."""
    accounts.check_name(name)
    store = Store(db_path, clock)
    try:
        exists = accounts.any_account(store.db)
    finally:
        store.close()
    if exists:
        return False
    if _set(db_path, stdin, stdout, name, True if second_factor else None, clock) is None:
        print(INSTRUCTION % db_path, file=stdout, flush=True)
        return False
    print("account %s created for the web page" % name, file=stdout, flush=True)
    return True


def set_password(db_path, stdin, stdout, *, name=accounts.DEFAULT_NAME, second_factor=None,
                 clock=time.time):
    """Set (or reset) ``name``'s password, creating the account if needed; its sessions end.
    ``second_factor``: True a new TOTP secret, False none, None as it was. WebError when
    no password was given or the policy refuses it."""
    accounts.check_name(name)
    if _set(db_path, stdin, stdout, name, second_factor, clock) is None:
        raise WebError("no password given; nothing was changed")
    print("password of %s set; its sessions have ended" % name, file=stdout, flush=True)
    return True


def has_second_factor(db_path, name=accounts.DEFAULT_NAME):
    store = Store(db_path)
    try:
        account = accounts.get(store.db, name)
        return account is not None and account.totp_secret is not None
    finally:
        store.close()
