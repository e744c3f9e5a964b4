"""Message catalogue: Vietnamese first, English second. Every user-facing string goes through ``t``; the texts are
gettext ``.po`` files (``cropwatch/locale``, read with Babel by ``cropwatch.core.catalogue``), numbers and dates are
written with Babel's ``format_decimal`` and ``format_date`` for the reader's locale."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal

from cropwatch.core.catalogue import load

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"

DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")

#: the shared messages (errors, diary types, alerts, exports), read from cropwatch/locale/{vi,en}/LC_MESSAGES/
#: cropwatch.po (cropwatch.core.catalogue); the web pages' own are api/web/locale's
CATALOGUE: dict[str, dict[str, str]] = load(LOCALE_DIR, "cropwatch")


def normalize_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    for part in value.replace(" ", "").split(","):
        code = part.split(";")[0].split("-")[0].lower()
        if code in LOCALES:
            return code
    return DEFAULT_LOCALE


class Message:
    """A message inside another one ("Cấu hình kênh không hợp lệ: {reason}"), written in the outer one's language."""

    def __init__(self, message_key: str, /, **params: object) -> None:
        self.message_key, self.params = message_key, params

    def localized(self, locale: str) -> str:
        return t(self.message_key, locale, **self.params)


class Number:
    """A number in a message, written for its reader: "1.234,5" in Vietnamese, "1,234.5" in English."""

    def __init__(self, value: float, digits: int = 1) -> None:
        self.value, self.digits = value, digits

    def localized(self, locale: str) -> str:
        return fmt_number(self.value, locale, digits=self.digits)

    def __str__(self) -> str:
        return fmt_number(self.value, "en", digits=self.digits)


class Megabytes:
    """A size in a message, written for its reader: "20,5 MB" in Vietnamese, "20.5 MB" in English (MB of 1024²
    bytes, as phones and Windows count them; two decimals at most, rounded up, so a file just over the limit reads larger)."""

    def __init__(self, n_bytes: int) -> None:
        self.n_bytes = n_bytes

    def localized(self, locale: str) -> str:
        import math

        mb = math.ceil(self.n_bytes / 1024 / 1024 * 100) / 100  # rounded up: a byte over 20 MB reads 20,01
        return f"{fmt_number(mb, locale, digits=2)} MB"


def t(
    key: str,
    locale: str = DEFAULT_LOCALE,
    /,
    *,
    catalogue: Mapping[str, Mapping[str, str]] | None = None,
    **params: Any,
) -> str:
    """The text of ``key`` in ``locale`` (Vietnamese when the entry has no such language), ``params`` filled in (a
    value with ``localized(locale)`` is localized first). ``catalogue`` is looked up before this module's own (the
    web pages' messages); an unknown key is returned as it is. An entry's ``en_one`` is its English text for
    ``n`` = 1 ("1 alert", not "1 alerts")."""
    entry = (catalogue or {}).get(key) or CATALOGUE.get(key)
    if entry is None:
        return key
    text = entry.get(locale, entry[DEFAULT_LOCALE])
    if params.get("n") in (1, "1") and f"{locale}_one" in entry:  # English plurals; Vietnamese has none
        text = entry[f"{locale}_one"]
    if not params:
        return text
    params = {k: v.localized(locale) if hasattr(v, "localized") else v for k, v in params.items()}
    return text.format(**params)


def fmt_number(value: float | int, lang: str = "vi", digits: int = 1) -> str:
    """350.5 → "350,5" (vi) / "350.5" (en); 1234567 → "1.234.567" / "1,234,567"; whole numbers without decimals."""
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(round(float(value), digits), format=pattern, locale="vi" if lang == "vi" else "en")
