"""The web page's refusals: one-line messages a command prints as they are."""


class WebError(Exception):
    """The page cannot start or an account cannot be set: bad address, port in use, no
    password, a password the policy refuses. The message is one line."""


class PolicyError(WebError):
    """A password the policy refuses; ``reason`` says why in words a person acts on."""

    def __init__(self, reason):
        super().__init__("password refused: " + reason)
        self.reason = reason
