"""Which addresses and Host names are this machine's own (loopback)."""

import ipaddress

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host):
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for anything else, including
    0.0.0.0 and :: (every interface) and other names (which could resolve anywhere)."""
    host = (host or "").strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host_header):
    """The name in a ``Host`` header, without its port."""
    host = host_header or ""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host
