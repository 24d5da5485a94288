"""The patient's pages as HTML, rendered on the server: small, no script, one stylesheet
from the same listener, every value escaped. Forms post; nothing needs JavaScript."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Final

from gateway.store.secure_records import AttachmentInfo, SecureContent

STYLESHEET_PATH: Final = "/assets/secure.css"
STYLESHEET: Final = b"""*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1b1f24;background:#f4f6f8}
main{max-width:34rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.5rem;padding:1rem 1.25rem;margin-bottom:1rem}
h1{font-size:1.25rem;margin:.25rem 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,textarea{width:100%;font:inherit;padding:.6rem;border:1px solid #8a96a3;border-radius:.35rem}
button{margin-top:1rem;width:100%;font:inherit;font-weight:600;padding:.7rem;border:0;border-radius:.35rem;background:#0b5cab;color:#fff}
.note{color:#4a5561;font-size:.9rem}
.error{color:#a4161a;font-weight:600}
.ok{color:#1b6e2a;font-weight:600}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
ul{padding-left:1.2rem}
a{color:#0b5cab}
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    phone: str | None


def _page(clinic: Clinic, title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta name=robots content="noindex,nofollow">'
        f"<title>{_e(title)} · {_e(clinic.name)}</title>"
        f'<link rel=stylesheet href="{STYLESHEET_PATH}"></head>'
        f"<body><main>{body}</main></body></html>"
    ).encode()


def _call(clinic: Clinic) -> str:
    if clinic.phone is None:
        return f"please call {_e(clinic.name)}."
    tel = "".join(c for c in clinic.phone if c.isdigit() or c == "+")
    return f'please call {_e(clinic.name)} at <a href="tel:{_e(tel)}">{_e(clinic.phone)}</a>.'


def closed_page(clinic: Clinic) -> bytes:
    """One page for unknown, expired, revoked and locked links alike."""
    return _page(
        clinic,
        "Link not available",
        "<div class=card><h1>This link is not available</h1>"
        "<p>It has expired or can no longer be used.</p>"
        f"<p>If you were expecting a message, {_call(clinic)}</p></div>",
    )


def throttled_page(clinic: Clinic) -> bytes:
    return _page(
        clinic,
        "Too many attempts",
        "<div class=card><h1>Too many attempts</h1>"
        "<p>Please wait a while before trying again.</p>"
        f"<p>If you need help, {_call(clinic)}</p></div>",
    )


def unavailable_page(clinic: Clinic) -> bytes:
    return _page(
        clinic,
        "Try again later",
        "<div class=card><h1>Please try again later</h1>"
        f"<p>The page cannot be shown just now. If it is urgent, {_call(clinic)}</p></div>",
    )


def not_found_page(clinic: Clinic) -> bytes:
    return _page(clinic, "Not found", "<div class=card><h1>Not found</h1></div>")


def dob_page(clinic: Clinic, action: str, error: str | None = None) -> bytes:
    problem = f"<p class=error role=alert>{_e(error)}</p>" if error else ""
    return _page(
        clinic,
        "Confirm it is you",
        f"<div class=card><h1>{_e(clinic.name)} has a message for you</h1>"
        "<p>To read it, confirm your date of birth.</p>"
        f'{problem}<form method=post action="{_e(action)}">'
        "<label for=dob>Date of birth</label>"
        "<input id=dob name=dob type=date required autocomplete=bday>"
        "<button type=submit>Continue</button></form></div>",
    )


def code_page(
    clinic: Clinic, send_action: str, verify_action: str, *, sent: bool, error: str | None = None
) -> bytes:
    problem = f"<p class=error role=alert>{_e(error)}</p>" if error else ""
    status = "<p class=ok role=status>We texted you a code.</p>" if sent else ""
    ask = (
        f'<form method=post action="{_e(send_action)}">'
        f"<button type=submit>{'Text me a new code' if sent else 'Text me a code'}</button>"
        "</form>"
    )
    enter = (
        f'<form method=post action="{_e(verify_action)}">'
        "<label for=code>Code from the text</label>"
        '<input id=code name=code inputmode=numeric pattern="[0-9]{6}" maxlength=6 '
        "autocomplete=one-time-code required>"
        "<button type=submit>Continue</button></form>"
    )
    return _page(
        clinic,
        "Confirm it is you",
        f"<div class=card><h1>{_e(clinic.name)} has a message for you</h1>"
        "<p>To read it, we text a 6-digit code to your phone.</p>"
        f"{status}{problem}{enter + ask if sent else ask + enter}</div>",
    )


def _attachment(base: str, item: AttachmentInfo) -> str:
    href = f"{base}/files/{item.seq}"
    size = f"{max(1, round(item.size / 1024))} KB"
    shown = (
        f'<img src="{_e(href)}" alt="{_e(item.filename)}">'
        if item.content_type.startswith("image/")
        else ""
    )
    return (
        f'<li>{shown}<a href="{_e(href)}?download=1">{_e(item.filename)}</a> '
        f"<span class=note>({size})</span></li>"
    )


def read_page(
    clinic: Clinic, base: str, content: SecureContent, form_token: str, *, answered: bool
) -> bytes:
    files = ""
    if content.attachments:
        items = "".join(_attachment(base, a) for a in content.attachments)
        files = f"<h2>Attachments</h2><ul>{items}</ul>"
    thanks = "<p class=ok role=status>Your answer was sent.</p>" if answered else ""
    return _page(
        clinic,
        "Your message",
        f"<div class=card><h1>Message from {_e(clinic.name)}</h1>"
        f"<div class=text>{_e(content.text)}</div>{files}</div>"
        f'<div class=card>{thanks}<form method=post action="{_e(base)}/reply">'
        f'<input type=hidden name=form value="{_e(form_token)}">'
        "<label for=answer>Your answer</label>"
        "<textarea id=answer name=text rows=4 maxlength=1000 required></textarea>"
        "<button type=submit>Send answer</button></form>"
        "<p class=note>Your answer goes to the clinic only.</p></div>",
    )
