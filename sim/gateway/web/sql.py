"""Writes to the gateway store from the web page: one ``BEGIN IMMEDIATE`` transaction each,
SQLite's failures as one-line StoreErrors (the store's own rule)."""

import contextlib
import sqlite3

from sim.gateway.store import StoreError


@contextlib.contextmanager
def transaction(store):
    """``with transaction(store) as db:`` .. committed at the end, rolled back on an error."""
    db = store.db
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise StoreError("%s: %s" % (store.path, exc)) from None


def security_event(db, at_s, kind, detail):
    """A row in security_events from the page (source 'web'), inside a transaction."""
    db.execute("INSERT INTO security_events (at_s, source, kind, detail) "
               "VALUES (?, 'web', ?, ?)", (at_s, kind, detail))
