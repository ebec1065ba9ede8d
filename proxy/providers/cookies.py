"""The cookie header a web-session provider sends, built from what the operator pasted."""

from __future__ import annotations


def clean_cookie(raw: str, session_name: str) -> str:
    """A header safe to send: no CR/LF/TAB, tidy `;`; a bare value is the session cookie.

    Operators paste either the session value alone or a whole `Cookie:` header copied
    from the browser, often with stray line breaks that would split the HTTP header.
    """
    flat = raw.replace("\r", "").replace("\n", "").replace("\t", "")
    parts = [p.strip() for p in flat.split(";") if p.strip()]
    if len(parts) == 1 and "=" not in parts[0]:
        return f"{session_name}={parts[0]}"
    return "; ".join(parts)
