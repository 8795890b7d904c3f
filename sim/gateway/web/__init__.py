"""The caregiver's web page: what the gateway's store holds about the pump, live, behind a
login. Flask app served by waitress; read-only over the pump's data.

Theory of operation. ``make_app`` builds the WSGI app over one store file; every request
opens the store (WAL: the gateway writes while the page reads), looks up the session
cookie's hash in ``web_sessions``, and answers the page, the login or JSON. The page's own
script (``static/page.js``) polls ``/api/current`` and ``/api/glucose`` every few seconds
and draws the 24 h plot as SVG. ``serve`` runs the app with waitress on loopback until a
stop event; ``first_start`` and ``set_password`` set the account's password on the
gateway's console. The controls, one module each: ``policy`` (which passwords),
``passwords`` (Argon2id), ``totp`` (RFC 6238), ``sessions`` (server-side, idle and
absolute expiry), ``attempts`` (the login log and its rate limits), ``app`` (CSRF, headers,
routes). docs/gateway-web.md has the threat model.
"""

from sim.gateway.web.app import make_app
from sim.gateway.web.console import first_start, has_second_factor, set_password
from sim.gateway.web.errors import PolicyError, WebError
from sim.gateway.web.server import check_address, serve

__all__ = ["make_app", "serve", "first_start", "set_password", "has_second_factor",
           "check_address", "WebError", "PolicyError"]
