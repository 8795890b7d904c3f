"""The caregiver's page as a Flask app: its routes, the login, and what every answer carries.

Routes (nothing else answers; nothing here writes pump data):

    GET  /               the page (logged in), else a redirect to /login
    GET  /login          the login form
    POST /login          log in: name, password, code (with TOTP), the form's CSRF token
    POST /logout         log out: the session's CSRF token
    GET  /api/current    JSON: glucose now, the pump, alarms, security events
    GET  /api/glucose    JSON: the last 24 h of readings, for the plot
    GET  /static/...     the stylesheet, the script, the icon (all local: works offline)

Until an account exists every route but /static answers 503 with how to make one. A
data route without a live session answers 401 (JSON) or redirects to the login. A POST
needs its CSRF token and, when the browser says where it comes from (Origin,
Sec-Fetch-Site), this page. Every answer carries HEADERS (a strict CSP without inline
script, no framing, no sniffing, no referrer, no caching).
"""

import hmac
import secrets
import sqlite3
import threading
import time
from urllib.parse import urlsplit

from flask import Flask, abort, g, jsonify, make_response, redirect, render_template, request
from flask.json.provider import DefaultJSONProvider

from sim.gateway.store import Store, StoreError
from sim.gateway.web import accounts, attempts, passwords, sessions, totp, views
from sim.gateway.web.addresses import LOOPBACK_NAMES, host_name, is_loopback
from sim.gateway.web.sql import security_event, transaction

SESSION_COOKIE = "pumpsim_session"
LOGIN_COOKIE = "pumpsim_login"         # the login form's CSRF token (double submit)
LOGIN_FORM_S = 3600
MAX_FORM_BYTES = 4096
POLL_S = 5
# Logins checked at once (each an Argon2id hash of 64 MiB): fewer than the server's
# threads, so a flood of logins never leaves the caregiver's page without one.
HASHING_AT_ONCE = 2
HASH_WAIT_S = 2.0

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class _EscapedJSON(DefaultJSONProvider):
    """JSON with ``<``, ``>`` and ``&`` written as \\u escapes: a text from the store never
    appears as markup in an answer, whatever a browser makes of it."""

    def dumps(self, obj, **kwargs):
        text = super().dumps(obj, **kwargs)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def make_app(db_path, clock=time.time, *, idle_s=sessions.IDLE_S,
             absolute_s=sessions.ABSOLUTE_S, poll_s=POLL_S, trusted_hosts=LOOPBACK_NAMES):
    """The WSGI app over the store at ``db_path`` (opened, and migrated, here: a bad file
    fails now with a one-line StoreError). ``clock`` gives the time in seconds (tests move
    it); ``trusted_hosts`` are the Host names answered (loopback only by default, which
    stops DNS rebinding; None: any, for a page reached by another name)."""
    Store(db_path, clock).close()
    app = Flask(__name__)
    app.json = _EscapedJSON(app)
    app.config.update(MAX_CONTENT_LENGTH=MAX_FORM_BYTES, MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES)
    hosts = None if trusted_hosts is None else {h.strip("[]").lower() for h in trusted_hosts}
    hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

    def store():
        if "store" not in g:
            g.store = Store(db_path, clock)
        return g.store

    def secure():
        """Cookies are Secure except on a loopback name over plain HTTP."""
        return request.is_secure or not is_loopback(host_name(request.host))

    def same_origin():
        """False when the browser says the request comes from another site. (Under
        ``Referrer-Policy: no-referrer`` a browser sends ``Origin: null`` with its own
        forms, so that says nothing; Sec-Fetch-Site still does.)"""
        origin = request.headers.get("Origin")
        if origin not in (None, "null") and urlsplit(origin).netloc != request.host:
            return False
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")

    def token_ok(expected, given):
        return bool(expected) and isinstance(given, str) and hmac.compare_digest(
            expected.encode("utf-8"), given.encode("utf-8"))

    def login_page(status=200, message=None, retry_s=None):
        nonce = secrets.token_urlsafe(32)
        response = make_response(render_template(
            "login.html", csrf=nonce, message=message,
            plain_http=not request.is_secure and not is_loopback(host_name(request.host))),
            status)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_FORM_S, path="/login",
                            httponly=True, samesite="Strict", secure=secure())
        if retry_s is not None:
            response.headers["Retry-After"] = str(retry_s)
        return response

    def refused(status, message):
        return make_response(render_template("message.html", title="Refused",
                                             message=message), status)

    @app.before_request
    def load_session():
        if request.method == "OPTIONS":        # nothing here is for other origins
            abort(405)
        g.now = int(clock())
        g.session = None
        if hosts is not None and host_name(request.host).lower() not in hosts:
            abort(400)
        if request.endpoint == "static":
            return None
        if not accounts.any_account(store().db):
            if request.path.startswith("/api/"):
                return jsonify(error="no account yet: run `pumpsim web --db FILE passwd` "
                                     "on the gateway"), 503
            return make_response(render_template("first_start.html"), 503)
        g.session = sessions.lookup(store(), request.cookies.get(SESSION_COOKIE), g.now,
                                    idle_s)
        return None

    @app.teardown_request
    def close_store(_exc):
        opened = g.pop("store", None)
        if opened is not None:
            opened.close()

    @app.after_request
    def security_headers(response):
        for name, value in HEADERS.items():
            response.headers[name] = value
        return response

    @app.errorhandler(sqlite3.DatabaseError)
    @app.errorhandler(StoreError)
    def store_unavailable(exc):
        # a damaged store found by a view's own query, too: one line, never a traceback
        app.logger.error("store: %s", str(exc).splitlines()[0] if str(exc) else exc)
        if request.path.startswith("/api/"):
            return jsonify(error="the gateway's store is unavailable"), 503
        return refused(503, "The gateway's store is unavailable; try again shortly.")

    @app.get("/")
    def page():
        if g.session is None:
            return redirect("/login", 303)
        return render_template("page.html", view=views.current(store().db, g.now),
                               csrf=g.session.csrf, name=g.session.name,
                               poll_ms=int(poll_s * 1000))

    @app.get("/login")
    def login_form():
        return login_page()

    @app.post("/login")
    def login():
        form = request.form
        name, password, code = (form.get(k, "") for k in ("name", "password", "code"))
        remote = request.remote_addr or "unknown"
        if not same_origin() or not token_ok(request.cookies.get(LOGIN_COOKIE),
                                             form.get("csrf")):
            attempts.refuse(store(), name, remote, g.now, attempts.BAD_FORM)
            return login_page(403, "The form had expired or did not come from this page: "
                                   "please try again.")
        if not hashing.acquire(timeout=HASH_WAIT_S):
            attempts.refuse(store(), name, remote, g.now, attempts.BUSY)
            return login_page(503, "The gateway is busy checking other logins: try again "
                                   "in a moment.", retry_s=1)
        try:
            return check_login(name, password, code, remote)
        finally:
            hashing.release()

    def check_login(name, password, code, remote):
        attempt, wait_s = attempts.begin(store(), name, remote, g.now)
        if attempt is None:
            return login_page(429, "Too many failed logins: try again in %d min."
                              % -(-wait_s // 60), retry_s=wait_s)
        account = accounts.get(store().db, name)
        if account is None:
            good = passwords.verify_nobody(password)
        else:
            good = passwords.verify(account.password_hash, password)
            if account.totp_secret is not None:
                step = totp.matching_step(account.totp_secret, code, g.now,
                                          account.totp_last_step)
                good = good and step is not None and accounts.accept_step(
                    store(), name, step)
        if not good:
            attempts.finish(store(), attempt, name, remote, g.now, attempts.WRONG)
            return login_page(401, "Wrong name, password or code.")
        attempts.finish(store(), attempt, name, remote, g.now, attempts.OK)
        if passwords.needs_rehash(account.password_hash):
            accounts.rehash(store(), name, password)
        token, _csrf = sessions.create(store(), name, remote, g.now,
                                       request.cookies.get(SESSION_COOKIE), absolute_s)
        response = redirect("/", 303)
        response.set_cookie(SESSION_COOKIE, token, max_age=absolute_s, path="/",
                            httponly=True, samesite="Strict", secure=secure())
        response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True,
                               samesite="Strict", secure=secure())
        return response

    @app.post("/logout")
    def logout():
        if g.session is None:
            return redirect("/login", 303)
        if not same_origin() or not token_ok(g.session.csrf, request.form.get("csrf")):
            return refused(403, "The logout form did not come from this page.")
        sessions.end(store(), request.cookies.get(SESSION_COOKIE))
        with transaction(store()) as db:
            security_event(db, g.now, "web logout", "%r from %s" % (
                g.session.name, request.remote_addr or "unknown"))
        response = redirect("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict",
                               secure=secure())
        return response

    @app.get("/api/current")
    def api_current():
        if g.session is None:
            return jsonify(error="login required"), 401
        return jsonify(views.current(store().db, g.now))

    @app.get("/api/glucose")
    def api_glucose():
        if g.session is None:
            return jsonify(error="login required"), 401
        return jsonify(views.glucose_day(store().db, g.now))

    return app
