"""Password hashing: Argon2id (RFC 9106) through argon2-cffi.

Parameters are RFC 9106's second recommended option (section 4, for memory-constrained
machines): 64 MiB of memory, 3 passes, 4 lanes, a 16-byte random salt per hash from the
OS's CSPRNG, a 32-byte tag. On the gateway's two cores one hash takes about 0.2 s: a
stolen store costs an attacker that much memory and time per guess per account. The
stored string is the PHC format (``$argon2id$v=19$m=65536,t=3,p=4$salt$tag``), so the
parameters travel with each hash and a hash made with older ones is redone at the next
good login. libargon2 compares tags in constant time.

A login for an account that does not exist still runs one hash (``verify_nobody``), so the
answer's timing does not tell which names exist.
"""

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 3
MEMORY_KIB = 64 * 1024
PARALLELISM = 4
HASH_BYTES = 32
SALT_BYTES = 16

_HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB,
                         parallelism=PARALLELISM, hash_len=HASH_BYTES,
                         salt_len=SALT_BYTES, type=Type.ID)
_nobody = []


def hash_password(password):
    """The PHC string to store for ``password`` (a fresh salt each call)."""
    return _HASHER.hash(password)


def verify(stored, password):
    """True when ``password`` is the one ``stored`` was made from; False for a wrong one
    and for a stored value that is not an Argon2 hash (never an exception)."""
    return _verify(stored, password)


def _verify(stored, password):
    try:
        return _HASHER.verify(stored, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored):
    """True when ``stored`` was made with other parameters than these."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def verify_nobody(password):
    """The same work as a verify, for a name with no account; always False."""
    if not _nobody:
        _nobody.append(_HASHER.hash(secrets.token_urlsafe(24)))
    _verify(_nobody[0], password)
    return False
