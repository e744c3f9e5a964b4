"""The web pages' message catalogue, one module per page group (vi first, en second).

Templates say ``{{ _("key") }}``; nothing user-visible is written in a template itself (a test checks this).
Keys not found here fall back to the API catalogue in ``cropwatch/core/i18n.py`` (error messages, diary types...).
"""

from __future__ import annotations

from importlib import import_module

GROUPS = ("common", "farmer", "agronomist", "ml", "admin", "account", "public", "channels")


def _load() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for name in GROUPS:
        messages = import_module(f"{__name__}.{name}").MESSAGES
        for key, entry in messages.items():
            if key in merged:
                raise ValueError(f"message key {key!r} is defined twice (in {name})")
            merged[key] = entry
    return merged


MESSAGES = _load()
