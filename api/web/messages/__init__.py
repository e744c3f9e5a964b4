"""The web pages' message catalogue: gettext ``.po`` files in ``api/web/locale/{vi,en}/LC_MESSAGES/web.po`` (one
entry per key, each with a ``page group`` comment: common, farmer, agronomist, ml, admin, account, public,
channels), read with Babel by ``cropwatch.core.catalogue``.

Templates say ``{{ _("key") }}``; nothing user-visible is written in a template itself (a test checks this).
Keys not found here fall back to the shared catalogue (``cropwatch/locale``: error messages, diary types...).
"""

from __future__ import annotations

from pathlib import Path

from cropwatch.core.catalogue import load

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
MESSAGES = load(LOCALE_DIR, "web")
