"""What Monica's failures mean for the account: the one table to extend (DESIGN §5).

Rules are tried in order; the first that matches decides, anything else is
transient. `text` is the upstream's body (or a redirect's Location) as text.
"""

from __future__ import annotations

from proxy.outcome import OutcomeKind
from proxy.providers.signals import ANY, REDIRECTS, SERVER_ERRORS, Signal, text

AUTH = OutcomeKind.AUTH_FAILED
QUOTA = OutcomeKind.QUOTA_EXHAUSTED
RATE = OutcomeKind.RATE_LIMITED
TRANSIENT = OutcomeKind.TRANSIENT
CLIENT = OutcomeKind.CLIENT_ERROR

SIGNALS: tuple[Signal, ...] = (
    # A redirect to a login page: the session cookie is gone.
    Signal(REDIRECTS, text(r"log_?in|sign_?in|auth"), AUTH),
    Signal(ANY, text(r"too many requests|rate.?limit|slow down|请求过于频繁"), RATE),
    Signal(
        ANY,
        text(r"credit|quota|usage limit|limit (reached|exceeded)|exceeded .*limit|upgrade|额度|次数已用完"),
        QUOTA,
    ),
    Signal((401, 403), None, AUTH),
    Signal(
        ANY,
        text(r"not log(ged)? ?in|please log ?in|unauthori[sz]ed|session (expired|invalid)|invalid token"),
        AUTH,
    ),
    Signal((429,), None, RATE),
    Signal(SERVER_ERRORS, None, TRANSIENT),
    Signal((400, 413, 422), text(r"too long|context length|content (policy|filter)|sensitive"), CLIENT),
)
