"""The password policy: long, not on a list of common passwords, not a trivial pattern.

A password is refused, with the first reason that applies, when it is

- shorter than MIN_LENGTH (12) or longer than MAX_LENGTH (128) characters, or holds
  control, format or separator characters (zero-width spaces, direction marks); the rest
  is judged in its NFKC form, so fullwidth letters disguise nothing;
- the account name (or contains it, or it backwards);
- one pattern from end to end, as zxcvbn (the maintained Python port of Dropbox's
  estimator, MIT licence) finds them: a common password from its frequency list (30,000
  passwords most often found in published breaches), a repeat (``abcabcabcabc``), a
  sequence (``abcdefghijkl``, ``123456789012``), a keyboard walk (``qwertyuiop[]``), a date;
- for half its length or more, common passwords, or the account name and words about the
  product (pump, insulin, glucose, ...), also spelt l33t or backwards;
- still estimated easy to guess: a zxcvbn score below MIN_SCORE (3: about 10^8 guesses,
  "safely unguessable" by an online attacker and slow offline against Argon2id).

A long pass phrase of ordinary words passes ("pumpkin soup on a rainy tuesday").
"""

import unicodedata

from zxcvbn import zxcvbn

from sim.gateway.web.errors import PolicyError

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3
# Unicode categories refused outright: control, format (zero-width, direction marks), line
# and paragraph separators, surrogates, private use, unassigned.
_INVISIBLE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
PRODUCT_WORDS = ("pump", "insulin", "pumpsim", "glucose", "diabetes", "diabetic", "bolus",
                 "basal", "sensor", "caregiver", "gateway", "monitor", "password")

_WHOLE = {
    "repeat": "repeats one pattern (%r)",
    "sequence": "is a sequence of characters",
    "spatial": "is a walk along the keyboard",
    "date": "is a date",
    "regex": "is a year or a simple pattern",
}


def check(password, name=""):
    """Return None for a password the policy accepts; raise PolicyError otherwise."""
    if not isinstance(password, str) or not password:
        raise PolicyError("no password given")
    if len(password) < MIN_LENGTH:
        raise PolicyError("too short (%d characters): at least %d"
                          % (len(password), MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise PolicyError("too long: at most %d characters" % MAX_LENGTH)
    if any(unicodedata.category(c) in _INVISIBLE for c in password):
        raise PolicyError("contains control, format or separator characters (invisible "
                          "ones such as zero-width spaces or direction marks)")
    # Judged as NFKC, so a fullwidth or otherwise compatible spelling is no disguise.
    password = unicodedata.normalize("NFKC", password)
    lower = password.lower()
    name = (name or "").lower()
    if len(name) >= 3 and (name in lower or name[::-1] in lower):
        raise PolicyError("contains the account name")

    result = zxcvbn(password, user_inputs=[name] + list(PRODUCT_WORDS), max_length=MAX_LENGTH)
    matches = result["sequence"]
    if len(matches) == 1:
        whole = matches[0]
        if whole["pattern"] == "dictionary" and whole["dictionary_name"] == "passwords":
            raise PolicyError("is a commonly used password (on a list of breached ones)")
        if whole["pattern"] == "dictionary":
            raise PolicyError("is a single dictionary word")
        if whole["pattern"] in _WHOLE:
            text = _WHOLE[whole["pattern"]]
            raise PolicyError(text % whole["base_token"] if "%r" in text else text)
    if _covered(matches, "passwords") * 2 >= len(password):
        raise PolicyError("is made mostly of common passwords (%s)"
                          % ", ".join(repr(m["token"]) for m in matches
                                      if m.get("dictionary_name") == "passwords"))
    if _covered(matches, "user_inputs") * 2 >= len(password):
        raise PolicyError("is made mostly of the account name or words about the pump (%s)"
                          % ", ".join(repr(m["token"]) for m in matches
                                      if m.get("dictionary_name") == "user_inputs"))
    if result["score"] < MIN_SCORE:
        warning = result["feedback"]["warning"]
        raise PolicyError("too easy to guess (%s)" % (
            warning.rstrip(".") if warning else
            "about 10^%d guesses: add another uncommon word or two"
            % int(result["guesses_log10"])))
    return None


def _covered(matches, dictionary):
    return sum(len(m["token"]) for m in matches
               if m["pattern"] == "dictionary" and m["dictionary_name"] == dictionary)
