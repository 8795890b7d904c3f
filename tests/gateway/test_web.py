"""The caregiver's web page (sim/gateway/web), through Flask's test client and a real
waitress on loopback.

Hazards: a page reachable with a default or guessable password; a password tried without
end; a login that outlives its owner (no expiry, a fixed or stored session id); another
site making the caregiver's browser log in or out (CSRF) or framing the page; a text from
the pump, the gateway or a login form (the typed name) running as script in the
caregiver's browser; a data route without a login; any route that changes pump data; a
page that other machines reach over plain HTTP without anyone asking for it.
"""

import hashlib
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import examples
from web_fixture import HOSTILE, NAME, NOW, PASSWORD, add_hostile_event, fill_day
from sim import cli
from sim.gateway.store import Store
from sim.gateway.web import (PolicyError, WebError, accounts, app as web_app, attempts,
                             first_start, make_app, passwords, policy, serve, sessions, totp,
                             views)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB = os.path.join(ROOT, "sim", "gateway", "web")
PUMP_TABLES = ("readings", "status", "log_records", "deliveries", "alarms", "sessions",
               "clock_syncs")


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def db(tmp_path):
    return fill_day(str(tmp_path / "gateway.db"))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(db, clock):
    return make_app(db, clock).test_client()


def _csrf(response):
    match = re.search(r'name="csrf" value="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def login(client, name=NAME, password=PASSWORD, code="", remote="127.0.0.1"):
    env = {"REMOTE_ADDR": remote}
    form = client.get("/login", environ_base=env)
    return client.post("/login", environ_base=env, data={
        "csrf": _csrf(form), "name": name, "password": password, "code": code})


def _rows(db, sql, args=()):
    store = Store(db)
    try:
        return store.db.execute(sql, args).fetchall()
    finally:
        store.close()


def _session_cookie(response):
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(web_app.SESSION_COOKIE + "="):
            return header
    raise AssertionError(response.headers.getlist("Set-Cookie"))


# -- first start -------------------------------------------------------------------------------

def test_without_an_account_every_route_shows_only_the_first_start_instruction(tmp_path):
    path = fill_day(str(tmp_path / "gateway.db"), account=False)
    client = make_app(path, Clock()).test_client()
    for method, route in (("GET", "/"), ("GET", "/login"), ("POST", "/login"),
                          ("POST", "/logout"), ("GET", "/api/current"),
                          ("GET", "/api/glucose"), ("GET", "/anything")):
        answer = client.open(route, method=method, data={"name": NAME, "password": PASSWORD})
        assert answer.status_code == 503, (method, route)
        assert b"passwd" in answer.data
        assert b"mg/dL" not in answer.data and b"delivering" not in answer.data
    assert client.get("/static/style.css").status_code == 200
    assert _rows(path, "SELECT COUNT(*) FROM web_sessions") == [(0,)]


def test_first_start_reads_one_line_applies_the_policy_and_creates_the_account(tmp_path):
    path = fill_day(str(tmp_path / "gateway.db"), account=False)
    out = io.StringIO()
    assert first_start(path, io.StringIO(""), out) is False          # nothing given
    assert "pumpsim web --db" in out.getvalue()
    with pytest.raises(PolicyError, match="too short"):
        first_start(path, io.StringIO("pump123\n"), io.StringIO())
    assert _rows(path, "SELECT COUNT(*) FROM web_users") == [(0,)]
    assert first_start(path, io.StringIO(PASSWORD + "\n"), io.StringIO()) is True
    unread = io.StringIO("another password line\n")
    assert first_start(path, unread, io.StringIO()) is False       # one exists: not asked
    assert unread.tell() == 0
    client = make_app(path, Clock()).test_client()
    assert login(client).status_code == 303


def test_first_start_with_a_second_factor_prints_its_uri_once(tmp_path):
    path = fill_day(str(tmp_path / "gateway.db"), account=False)
    out = io.StringIO()
    assert first_start(path, io.StringIO(PASSWORD + "\n"), out, second_factor=True)
    uri = re.search(r"otpauth://totp/\S+", out.getvalue()).group(0)
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert len(secret) == totp.SECRET_CHARS and "issuer=pumpsim" in uri
    assert _rows(path, "SELECT totp_secret FROM web_users") == [(secret,)]


# -- the password policy -----------------------------------------------------------------------

@pytest.mark.verifies("DC-WEB-PASSWORD")
@pytest.mark.parametrize("password, reason", [
    ("", "no password"),
    ("Xk3#pL9q", "too short (8 characters): at least 12"),
    ("x" * 129, "too long"),
    ("tab\tin the middle of it", "control, format or separator characters"),
    ("my caregiver is here", "account name"),
    ("revigerac-2024-xyz", "account name"),                   # backwards
    ("1qaz2wsx3edc4rfv", "commonly used password"),
    ("iloveyou123456", "common passwords"),
    ("aaaaaaaaaaaaaaaa", "repeats one pattern ('a')"),
    ("passwordpassword", "repeats one pattern ('password')"),
    ("abcdefghijklmnop", "sequence"),
    ("qwertyuiop[]", "keyboard"),
    ("insulinpump123", "words about the pump"),
    ("1nsul1nPump!!", "words about the pump"),                # l33t
    ("glucosesensorbolus", "words about the pump"),
    ("\uff23\uff21\uff32\uff25\uff27\uff29\uff36\uff25\uff32xk#82pq", "account name"),
    ("care\u200bgiverxk#82pq", "format or separator"),             # zero-width space
    ("pass\u200bword\u200b1234\u200b5678", "format or separator"),
    ("Zk#82pq\u202emmmqqwq", "format or separator"),               # right-to-left override
    ("Zk#82pq\u2028mmmqqwq", "format or separator"),               # line separator
])
def test_policy_refuses_with_a_reason(password, reason):
    with pytest.raises(PolicyError) as refused:
        policy.check(password, NAME)
    assert reason in refused.value.reason
    assert str(refused.value).startswith("password refused: ")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("password", [PASSWORD, "pumpkin soup on a rainy tuesday",
                                      "nJ8#kq!2mZp0Lw", "Zürich trams hum at dawn"])
def test_policy_accepts_long_uncommon_passwords(password):
    assert policy.check(password, NAME) is None


@pytest.mark.verifies("DC-WEB-PASSWORD")
def test_setting_a_refused_password_changes_nothing(db):
    store = Store(db)
    before = store.db.execute("SELECT password_hash FROM web_users").fetchall()
    with pytest.raises(PolicyError):
        accounts.set_password(store, NAME, "caregiver123456", NOW)
    assert store.db.execute("SELECT password_hash FROM web_users").fetchall() == before
    store.close()


@pytest.mark.verifies("DC-WEB-PASSWORD")
def test_password_is_stored_as_salted_argon2id_only(db):
    (stored,), = _rows(db, "SELECT password_hash FROM web_users")
    assert stored.startswith("$argon2id$v=19$m=%d,t=%d,p=%d$" % (
        passwords.MEMORY_KIB, passwords.TIME_COST, passwords.PARALLELISM))
    assert passwords.MEMORY_KIB >= 19 * 1024 and passwords.TIME_COST >= 2
    again = passwords.hash_password(PASSWORD)
    assert again != stored                                  # a fresh salt each time
    assert passwords.verify(stored, PASSWORD) and passwords.verify(again, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + " ")
    assert not passwords.verify("not a hash", PASSWORD)
    with open(db, "rb") as f:
        assert PASSWORD.encode() not in f.read()


# -- login, logout, sessions -------------------------------------------------------------------

def test_login_and_logout(client, db):
    assert client.get("/").headers["Location"] == "/login"
    answer = login(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    cookie = _session_cookie(answer)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie                           # loopback over plain HTTP
    page = client.get("/")
    assert page.status_code == 200 and b"Log out" in page.data
    assert client.get("/api/current").status_code == 200

    answer = client.post("/logout", data={"csrf": _csrf(page)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert client.get("/api/current").status_code == 401
    assert _rows(db, "SELECT COUNT(*) FROM web_sessions") == [(0,)]
    assert _rows(db, "SELECT name, remote, ok, detail FROM web_logins") == [
        (NAME, "127.0.0.1", 1, "ok")]
    kinds = [row[0] for row in _rows(db, "SELECT kind FROM security_events WHERE "
                                         "source = 'web' ORDER BY id")]
    assert kinds == ["web password set", "web login", "web logout"]


@pytest.mark.verifies("DC-WEB-SESSION")
def test_session_id_rotates_at_login_and_only_its_hash_is_stored(client, db):
    first = _session_cookie(login(client)).split(";")[0].split("=", 1)[1]
    second = _session_cookie(login(client)).split(";")[0].split("=", 1)[1]
    assert first != second and len(first) >= 43
    stored = [row[0] for row in _rows(db, "SELECT token_hash FROM web_sessions")]
    assert stored == [hashlib.sha256(second.encode()).hexdigest()]   # the old one deleted
    with open(db, "rb") as f:
        raw = f.read()
    for token in (first, second):
        assert token.encode() not in raw
    client.set_cookie(web_app.SESSION_COOKIE, first)
    assert client.get("/api/current").status_code == 401


def test_a_cookie_made_up_by_the_browser_is_no_session(client):
    for value in ("x" * 43, "../../etc", "", "a" * 500):
        client.set_cookie(web_app.SESSION_COOKIE, value)
        assert client.get("/api/current").status_code == 401


def test_wrong_password_and_unknown_name_get_the_same_refusal(client, db):
    wrong = login(client, password="wrong horse battery staple")
    nobody = login(client, name="somebody")
    for answer in (wrong, nobody):
        assert answer.status_code == 401
        assert b"Wrong name, password or code." in answer.data
        assert web_app.SESSION_COOKIE.encode() not in b"".join(
            h.encode() for h in answer.headers.getlist("Set-Cookie"))
    assert _rows(db, "SELECT name, ok, detail FROM web_logins ORDER BY id") == [
        (NAME, 0, attempts.WRONG), ("somebody", 0, attempts.WRONG)]
    assert [row[0] for row in _rows(db, "SELECT kind FROM security_events WHERE "
                                        "kind = 'web login failed'")] == ["web login failed"] * 2


@pytest.mark.verifies("DC-WEB-SESSION")
def test_session_ends_when_idle_and_at_its_absolute_limit(client, clock):
    assert login(client).status_code == 303
    clock.now += sessions.IDLE_S - 10
    assert client.get("/api/current").status_code == 200     # polling keeps it alive
    clock.now += sessions.IDLE_S + 1
    assert client.get("/api/current").status_code == 401     # idle too long
    assert client.get("/").status_code == 303

    start = clock.now
    assert login(client).status_code == 303
    while clock.now + 600 < start + sessions.ABSOLUTE_S:
        clock.now += 600
        assert client.get("/api/current").status_code == 200
    clock.now = start + sessions.ABSOLUTE_S
    assert client.get("/api/current").status_code == 401     # however busy


def test_setting_the_password_again_ends_the_sessions(client, db):
    assert login(client).status_code == 303
    store = Store(db)
    accounts.set_password(store, NAME, "pumpkin soup on a rainy tuesday", NOW)
    store.close()
    assert client.get("/api/current").status_code == 401
    assert login(client).status_code == 401
    assert login(client, password="pumpkin soup on a rainy tuesday").status_code == 303


# -- rate limits -------------------------------------------------------------------------------

def _count_checks(monkeypatch):
    checked = []
    real_verify, real_nobody = passwords.verify, passwords.verify_nobody
    monkeypatch.setattr(passwords, "verify",
                        lambda stored, pw: checked.append(pw) or real_verify(stored, pw))
    monkeypatch.setattr(passwords, "verify_nobody",
                        lambda pw: checked.append(pw) or real_nobody(pw))
    return checked


@pytest.mark.verifies("DC-WEB-LOCKOUT")
def test_five_failures_from_an_address_refuse_it_unchecked_and_are_logged(
        client, db, clock, monkeypatch):
    checked = _count_checks(monkeypatch)
    for i in range(attempts.PER_REMOTE):
        assert login(client, password="wrong %d" % i, remote="10.0.0.9").status_code == 401
    assert len(checked) == attempts.PER_REMOTE
    refused = login(client, remote="10.0.0.9")                # the right password
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= attempts.WINDOW_S + 1
    assert b"Too many failed logins" in refused.data
    assert len(checked) == attempts.PER_REMOTE                 # not looked at
    assert web_app.SESSION_COOKIE not in refused.headers.get("Set-Cookie", "")
    assert login(client, remote="10.0.0.8").status_code == 303  # another address: fine

    rows = _rows(db, "SELECT remote, ok, detail FROM web_logins WHERE remote = '10.0.0.9' "
                     "ORDER BY id")
    assert rows == [("10.0.0.9", 0, attempts.WRONG)] * 5 + [("10.0.0.9", 0, attempts.LIMITED)]
    events = _rows(db, "SELECT source, detail FROM security_events "
                       "WHERE kind = 'web login rate-limited'")
    assert len(events) == 1 and events[0][0] == "web" and "10.0.0.9" in events[0][1]

    clock.now += attempts.WINDOW_S + 1                         # the window has passed
    assert login(client, remote="10.0.0.9").status_code == 303


@pytest.mark.verifies("DC-WEB-LOCKOUT")
def test_ten_failures_on_an_account_refuse_it_from_any_address(client, monkeypatch):
    checked = _count_checks(monkeypatch)
    for i in range(attempts.PER_ACCOUNT):
        remote = "10.1.0.%d" % (i // 4)                        # 4 per address: under its limit
        assert login(client, password="wrong %d" % i, remote=remote).status_code == 401
    assert login(client, remote="10.2.0.1").status_code == 429
    assert login(client, name="other", password="x", remote="10.2.0.1").status_code == 401
    assert len(checked) == attempts.PER_ACCOUNT + 1


def test_a_good_login_resets_the_failures_counted(client):
    for _ in range(attempts.PER_REMOTE - 1):
        assert login(client, password="nope nope nope").status_code == 401
    assert login(client).status_code == 303
    for _ in range(attempts.PER_REMOTE - 1):
        assert login(client, password="nope nope nope").status_code == 401
    assert login(client).status_code == 303


@pytest.mark.verifies("DC-WEB-LOCKOUT")
def test_an_attempt_being_checked_counts_so_parallel_guesses_cannot_pass_the_limit(db):
    store = Store(db)
    started = [attempts.begin(store, NAME, "10.3.0.1", NOW)[0]
               for _ in range(attempts.PER_REMOTE)]
    assert None not in started
    assert attempts.begin(store, NAME, "10.3.0.1", NOW) == (None, attempts.WINDOW_S + 1)
    store.close()


# -- TOTP --------------------------------------------------------------------------------------

RFC6238_SEEDS = {"sha1": b"12345678901234567890",
                 "sha256": b"12345678901234567890123456789012",
                 "sha512": b"1234567890123456789012345678901234567890123456789012345678901234"}
RFC6238_VECTORS = [          # RFC 6238 appendix B: time, T (hex), TOTP per mode
    (59, 0x1, "94287082", "46119246", "90693936"),
    (1111111109, 0x23523EC, "07081804", "68084774", "25091201"),
    (1111111111, 0x23523ED, "14050471", "67062674", "99943326"),
    (1234567890, 0x273EF07, "89005924", "91819424", "93441116"),
    (2000000000, 0x3F940AA, "69279037", "90698825", "38618901"),
    (20000000000, 0x27BC86AA, "65353130", "77737706", "47863826"),
]


@pytest.mark.verifies("DC-WEB-TOTP")
@pytest.mark.parametrize("at_s, step, sha1, sha256, sha512", RFC6238_VECTORS)
def test_totp_matches_the_rfc_6238_test_vectors(at_s, step, sha1, sha256, sha512):
    import base64
    assert totp.step_at(at_s) == step
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        secret = base64.b32encode(RFC6238_SEEDS[digest]).decode()
        assert totp.code(secret, at_s, digits=8, digest=digest) == expected


def test_totp_accepts_a_step_of_drift_once_and_nothing_else():
    secret = totp.new_secret()
    now = NOW
    here = totp.code(secret, now)
    assert totp.matching_step(secret, here, now) == totp.step_at(now)
    assert totp.matching_step(secret, here[:3] + " " + here[3:], now) == totp.step_at(now)
    before = totp.code(secret, now - totp.STEP_S)
    assert totp.matching_step(secret, before, now) == totp.step_at(now) - 1
    assert totp.matching_step(secret, totp.code(secret, now - 2 * totp.STEP_S), now) is None
    assert totp.matching_step(secret, here, now, last_step=totp.step_at(now)) is None
    for typed in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", None):
        assert totp.matching_step(secret, typed, now) is None


@pytest.mark.verifies("DC-WEB-TOTP")
def test_totp_is_required_when_enabled_and_a_code_works_once(client, db, clock):
    store = Store(db)
    secret = accounts.set_password(store, NAME, PASSWORD, NOW, second_factor=True)
    store.close()
    assert login(client).status_code == 401                    # no code
    assert login(client, code="000000" if totp.code(secret, clock.now) != "000000"
                 else "111111").status_code == 401
    assert login(client, password="wrong horse", code=totp.code(secret, clock.now)
                 ).status_code == 401
    code = totp.code(secret, clock.now)
    assert login(client, code=code).status_code == 303
    assert login(client, code=code).status_code == 401         # the same code again
    clock.now += totp.STEP_S
    assert login(client, code=totp.code(secret, clock.now)).status_code == 303
    details = [row[0] for row in _rows(db, "SELECT detail FROM web_logins ORDER BY id")]
    assert details == [attempts.WRONG] * 3 + [attempts.OK, attempts.WRONG, attempts.OK]


# -- CSRF, origin ------------------------------------------------------------------------------

@pytest.mark.verifies("DC-WEB-SESSION")
def test_login_without_its_csrf_token_is_refused_and_logged(client, db):
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}):
        client.get("/login")
        answer = client.post("/login", data=dict(data, name=NAME, password=PASSWORD))
        assert answer.status_code == 403
    fresh = _csrf(client.get("/login"))
    client.delete_cookie(web_app.LOGIN_COOKIE, path="/login")
    assert client.post("/login", data={"csrf": fresh, "name": NAME,
                                       "password": PASSWORD}).status_code == 403
    assert _rows(db, "SELECT detail FROM web_logins") == [(attempts.BAD_FORM,)] * 4
    assert client.get("/api/current").status_code == 401


@pytest.mark.verifies("DC-WEB-SESSION")
def test_a_post_from_another_site_is_refused(client):
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "https://localhost.evil"},
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        form = client.get("/login")
        answer = client.post("/login", headers=headers, data={
            "csrf": _csrf(form), "name": NAME, "password": PASSWORD})
        assert answer.status_code == 403
    form = client.get("/login")
    answer = client.post("/login", headers={"Origin": "http://localhost",
                                            "Sec-Fetch-Site": "same-origin"},
                         data={"csrf": _csrf(form), "name": NAME, "password": PASSWORD})
    assert answer.status_code == 303


def test_logout_needs_the_session_csrf_token(client):
    login(client)
    page = client.get("/")
    for data in ({}, {"csrf": "forged"}):
        assert client.post("/logout", data=data).status_code == 403
    assert client.post("/logout", data={"csrf": _csrf(page)},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get("/api/current").status_code == 200      # still logged in


# -- headers, hosts, cookies -------------------------------------------------------------------

def test_security_headers_are_on_every_response(tmp_path, client, monkeypatch):
    empty = make_app(fill_day(str(tmp_path / "empty.db"), account=False), Clock())
    answers = [empty.test_client().get("/"), client.get("/"), client.get("/login"),
               client.get("/api/current"), client.get("/static/page.js"),
               client.get("/static/style.css"), client.get("/nope"),
               client.post("/api/current"), client.post("/login"),
               client.get("/", headers={"Host": "rebound.example"})]
    login(client)
    answers += [client.get("/"), client.get("/api/current"), client.get("/api/glucose"),
                client.put("/"), client.post("/logout")]
    for _ in range(attempts.PER_REMOTE):
        login(client, password="bad password guess")
    answers.append(login(client))
    assert {a.status_code for a in answers} >= {200, 303, 400, 401, 403, 404, 405, 429, 503}
    for answer in answers:
        for name, value in web_app.HEADERS.items():
            assert answer.headers.get(name) == value, (answer.status_code, name)
    csp = web_app.HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp


@pytest.mark.verifies("DC-WEB-LOOPBACK")
def test_a_rebound_host_name_is_refused(client):
    """DNS rebinding: a page of another site whose name now points at 127.0.0.1."""
    assert client.get("/login", headers={"Host": "attacker.example:8080"}).status_code == 400
    for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080"):
        assert client.get("/login", headers={"Host": host}).status_code == 200, host


def test_cookies_are_secure_when_not_on_loopback(db):
    client = make_app(db, Clock(), trusted_hosts=None).test_client()
    env = {"REMOTE_ADDR": "192.0.2.7"}
    form = client.get("/login", base_url="http://pump.example", environ_base=env)
    assert b"plain HTTP" in form.data
    assert "Secure" in form.headers["Set-Cookie"]
    client = make_app(db, Clock(), trusted_hosts=None).test_client()
    form = client.get("/login", base_url="https://pump.example", environ_base=env)
    answer = client.post("/login", base_url="https://pump.example", environ_base=env,
                         data={"csrf": _csrf(form), "name": NAME, "password": PASSWORD})
    assert answer.status_code == 303
    assert "Secure" in _session_cookie(answer)


# -- data and escaping -------------------------------------------------------------------------

def test_json_endpoints_need_a_login(client):
    for route in ("/api/current", "/api/glucose"):
        answer = client.get(route)
        assert answer.status_code == 401
        assert answer.is_json and answer.json == {"error": "login required"}
        assert b"mg_dl" not in answer.data
    login(client)
    current = client.get("/api/current").json
    assert current["glucose"]["mg_dl"] == 140 and current["glucose"]["arrow"] == "\u21ca"
    assert current["pump"]["iob"] == "1.25 U" and current["pump"]["reservoir"] == "152.30 U"
    assert current["pump"]["battery"] == "81 %" and current["pump"]["state"] == "delivering"
    assert [a["id"] for a in current["alarms"]] == ["reservoir_low", "occlusion", "occlusion"]
    day = client.get("/api/glucose").json
    assert len(day["points"]) == 288 and (day["low"], day["high"]) == (70, 180)
    assert day["points"][-1] == [NOW, 140] and day["to_s"] - day["from_s"] == 24 * 3600


def test_markup_in_an_event_is_escaped_in_html_and_json(client, db):
    add_hostile_event(db)
    login(client, name=HOSTILE)                          # the typed name is shown too
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert "<script>window" not in page and "<img src=x" not in page
    assert "<svg onload" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    assert page.count("<script") == 1                    # the page's own, with src
    answer = client.get("/api/current")
    assert b"<" not in answer.data and b">" not in answer.data
    events, logins = answer.json["events"], answer.json["logins"]
    assert HOSTILE in [e["detail"] for e in events] and HOSTILE in [e["kind"] for e in events]
    assert any(HOSTILE[:64] in e["detail"] for e in logins if e["kind"] == "web login failed")


def test_a_flood_of_logins_cannot_push_the_pumps_events_off_the_page(client, db):
    add_hostile_event(db)                                 # a gateway event
    for _ in range(30):
        client.post("/login", data={"name": "caregiver", "password": "x"})   # no token
    login(client)
    now = client.get("/api/current").json
    assert HOSTILE in [e["kind"] for e in now["events"]]
    assert all(e["source"] != "web" for e in now["events"])
    assert now["logins"] and all(e["source"] == "web" for e in now["logins"])


def test_a_store_that_no_longer_files_the_log_says_so_on_the_page(client, db):
    store = Store(db)
    store.set_meta("log_diverged", "the pump's log ends at seq 3, before the 40 stored")
    store.close()
    login(client)
    assert "no longer filed" in client.get("/api/current").json["store_problem"]
    assert "no longer filed" in client.get("/").get_data(as_text=True)


def test_an_empty_store_shows_that_nothing_came_yet(tmp_path):
    store = Store(str(tmp_path / "empty.db"))
    accounts.set_password(store, NAME, PASSWORD, NOW)
    store.close()
    client = make_app(str(tmp_path / "empty.db"), Clock()).test_client()
    login(client)
    page = client.get("/")
    assert page.status_code == 200 and b"no reading yet" in page.data
    assert b"no status yet" in page.data
    current = client.get("/api/current").json
    assert current["glucose"] is None and current["pump"] is None and current["alarms"] == []
    assert client.get("/api/glucose").json["points"] == []


def test_the_page_script_and_templates_build_no_markup_from_data():
    with open(os.path.join(WEB, "static", "page.js")) as f:
        script = f.read()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on", "javascript:"):
        assert sink not in script, sink
    assert "textContent" in script
    for name in os.listdir(os.path.join(WEB, "templates")):
        with open(os.path.join(WEB, "templates", name)) as f:
            text = f.read()
        assert "|safe" not in text and "autoescape false" not in text, name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), name     # no inline script
        assert not re.search(r"\son[a-z]+\s*=", text), name            # no handlers
        assert " style=" not in text and "<style" not in text, name
        assert "http://" not in text and "https://" not in text, name  # nothing remote


def test_views_say_age_trend_and_staleness():
    assert views.age_text(30) == "just now" and views.age_text(600) == "10 min ago"
    assert views.age_text(3 * 3600 + 120) == "3 h 2 min ago"
    assert views.range_of(60) == "low" and views.range_of(180) == "in-range"
    assert views.range_of(181) == "high" and views.range_of(53) == "very-low"
    assert set(views.ARROWS) == set(range(-3, 4)) == set(views.TRENDS)


def test_no_route_changes_pump_data(client, db):
    app = client.application
    for rule in app.url_map.iter_rules():
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if rule.rule in ("/login", "/logout"):
            assert methods <= {"GET", "POST"}, rule
        else:
            assert methods == {"GET"}, rule
    before = Store(db).counts()
    login(client)
    page = client.get("/")
    for route in ("/", "/api/current", "/api/glucose", "/static/page.js"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert client.open(route, method=method,
                               data={"csrf": _csrf(page)}).status_code == 405
        assert client.get(route).status_code == 200
    after = Store(db).counts()
    assert {t: after[t] for t in PUMP_TABLES} == {t: before[t] for t in PUMP_TABLES}


# -- serving -----------------------------------------------------------------------------------

@pytest.mark.verifies("DC-WEB-LOOPBACK")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "gateway.example"])
def test_a_non_loopback_address_is_refused_without_allow_remote(db, host):
    with pytest.raises(WebError, match="not a loopback address"):
        serve(db, host, 0, ready=lambda port: pytest.fail("it listened"))


def test_an_empty_host_means_loopback_not_every_interface(db):
    stop, ports = threading.Event(), []
    stop.set()
    serve(db, "", 0, ready=ports.append, stop=stop)
    assert len(ports) == 1 and ports[0] > 0


def test_pumpsim_web_refuses_a_non_loopback_address_in_one_line(db, capsys):
    assert cli.main(["web", "--db", db, "--listen", "0.0.0.0:8080"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a loopback address" in err and "--allow-remote" in err


def test_pumpsim_web_errors_are_one_line(db, tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "missing.db")
    assert cli.main(["web", "--db", missing]) == 2
    assert "no gateway store" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("pump pump pump\n"))
    assert cli.main(["web", "--db", db, "passwd"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "password refused" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("pumpkin soup on a rainy tuesday\n"))
    assert cli.main(["web", "--db", db, "passwd", "--totp"]) == 0
    assert "otpauth://totp/" in capsys.readouterr().out
    assert cli.main(["web", "--db", db, "--user", "bad name!", "passwd"]) == 2
    assert "account name" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("pumpkin soup on a rainy tuesday\n"))
    assert cli.main(["web", "--db", db, "passwd", "--no-totp"]) == 0
    assert cli.main(["web", "--db", db, "--totp", "--listen", "127.0.0.1:0"]) == 2
    assert "no second factor" in capsys.readouterr().err


def test_serve_listens_on_a_free_port_until_stopped(db):
    stop, ports = threading.Event(), []
    thread = threading.Thread(target=serve, args=(db, "127.0.0.1", 0),
                              kwargs={"ready": ports.append, "stop": stop}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ports and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/login" % ports[0], timeout=10) as r:
            assert r.status == 200
            assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Server"] is None
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_pumpsim_web_serves_and_stops_on_sigterm(db):
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "web", "--db", db, "--listen", "127.0.0.1:0"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = process.stdout.readline()
        url = re.match(r"web page on (http://127\.0\.0\.1:\d+/)$", line.strip()).group(1)
        with urllib.request.urlopen(url + "login", timeout=10) as answer:
            assert answer.status == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == "stopped" and err == ""


# -- fuzzing -----------------------------------------------------------------------------------

@settings(max_examples=examples(200))
@given(st.text(max_size=200), st.text(max_size=70))
def test_the_policy_refuses_only_with_a_reason(password, name):
    try:
        assert policy.check(password, name) is None
        assert policy.MIN_LENGTH <= len(password) <= policy.MAX_LENGTH
    except PolicyError as refused:
        assert refused.reason and "\n" not in str(refused)


@settings(max_examples=examples(200))
@given(st.one_of(st.none(), st.text(max_size=20)), st.integers(0, 2 ** 40))
def test_any_typed_code_matches_at_most_one_nearby_step(typed, at_s):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    step = totp.matching_step(secret, typed, at_s)
    assert step is None or (abs(step - totp.step_at(at_s)) <= totp.DRIFT_STEPS
                            and totp.code(secret, step * totp.STEP_S) == typed.strip())


@settings(max_examples=examples(20), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(["csrf", "name", "password", "code", "x"]),
                            st.text(max_size=100), max_size=5),
       cookie=st.one_of(st.none(), st.text(st.characters(codec="ascii",
                                                         exclude_categories=["Cc"]),
                                           max_size=60)))
def test_no_login_form_logs_in_without_the_password_or_breaks_the_page(client, form, cookie):
    if cookie is not None:
        client.set_cookie(web_app.SESSION_COOKIE, cookie)
    page = client.get("/login")
    form = dict(form)
    if form.pop("x", None) is not None:
        form["csrf"] = _csrf(page)
    if form.get("password") == PASSWORD:
        form["password"] += "!"
    answer = client.post("/login", data=form)
    assert answer.status_code in (401, 403, 429)
    assert client.get("/api/current").status_code == 401


def test_options_is_refused_like_any_other_method_with_the_headers(client):
    answer = client.open("/", method="OPTIONS")
    assert answer.status_code == 405
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_damaged_store_found_by_a_query_is_a_503_not_a_traceback(client, db, monkeypatch):
    login(client)

    def damaged(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")
    monkeypatch.setattr(web_app.views, "current", damaged)
    answer = client.get("/api/current")
    assert answer.status_code == 503
    assert answer.json == {"error": "the gateway's store is unavailable"}
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_value_of_the_wrong_type_cannot_be_stored_to_trip_the_page(db):
    connection = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute("UPDATE readings SET mg_dl = 'x'")      # STRICT tables
    connection.close()


def test_a_flood_of_logins_leaves_threads_for_the_page_and_is_told_busy(db, clock,
                                                                       monkeypatch):
    app = make_app(db, clock)
    held = threading.Event()
    release = threading.Event()
    slow = []

    def slow_verify(stored, password):
        slow.append(1)
        held.set()
        release.wait(10)
        return False
    monkeypatch.setattr(web_app.passwords, "verify", slow_verify)
    monkeypatch.setattr(web_app, "HASH_WAIT_S", 0.2)
    threads = [threading.Thread(target=login, args=(app.test_client(),),
                                kwargs={"remote": "127.0.0.%d" % (i + 2)})
               for i in range(web_app.HASHING_AT_ONCE)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(slow) < web_app.HASHING_AT_ONCE and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        busy = login(app.test_client(), remote="127.0.0.9")
        assert busy.status_code == 503 and "busy" in busy.get_data(as_text=True)
        logged = _rows(db, "SELECT detail FROM web_logins ORDER BY id DESC LIMIT 1")
        assert logged[0][0].startswith("busy")
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
