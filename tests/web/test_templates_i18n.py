"""Every word a page shows comes from the message catalogue, in Vietnamese and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.web.messages import MESSAGES
from api.web.render import TEMPLATE_DIR
from cropwatch.core.i18n import CATALOGUE

TEMPLATES = sorted(TEMPLATE_DIR.rglob("*.html"))
KEY = re.compile(r"""_\(\s*["']([a-z0-9_]+)["']\s*[,)]""")
TEXT_ATTRS = re.compile(r"""\b(placeholder|aria-label|title|alt|label)\s*=\s*"([^"]*)\"""")


def _visible_text(source: str) -> str:
    s = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    s = re.sub(r"\{%.*?%\}", " ", s, flags=re.S)
    s = re.sub(r"\{\{.*?\}\}", " ", s, flags=re.S)
    s = re.sub(r"<(script|style)\b.*?</\1>", " ", s, flags=re.S)
    s = re.sub(r"<[^>]*>", " ", s, flags=re.S)
    return s


def test_there_are_templates():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATE_DIR)))
def test_no_hard_coded_words_in_templates(path: Path):
    source = path.read_text()
    words = re.findall(r"[^\W\d_]{2,}", _visible_text(source))
    assert not words, f"{path.name}: text outside the catalogue: {words[:10]}"
    for attr, value in TEXT_ATTRS.findall(re.sub(r"\{\{.*?\}\}", "", source, flags=re.S)):
        assert not re.search(r"[^\W\d_]{2,}", value), f'{path.name}: {attr}="{value}" is not translated'


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATE_DIR)))
def test_every_key_a_template_uses_exists_in_both_languages(path: Path):
    for key in KEY.findall(path.read_text()):
        entry = MESSAGES.get(key) or CATALOGUE.get(key)
        assert entry is not None, f"{path.name}: unknown message key {key!r}"
        assert entry.get("vi") and entry.get("en"), f"{key!r} lacks vi or en"


def test_catalogue_entries_have_both_languages_and_the_same_placeholders():
    for key, entry in MESSAGES.items():
        assert set(entry) in ({"vi", "en"}, {"vi", "en", "en_one"}), key
        assert set(re.findall(r"\{(\w+)\}", entry["vi"])) == set(re.findall(r"\{(\w+)\}", entry["en"])), key
        if "en_one" in entry:  # the singular may drop {n} ("Last month"), never add a placeholder
            assert set(re.findall(r"\{(\w+)\}", entry["en_one"])) <= set(re.findall(r"\{(\w+)\}", entry["en"])), key


#: "{n} alerts", "Last {n} months", "photo(s)": a count followed by a plural noun
PLURAL = re.compile(r"\{n\} [a-z]+s\b|\(s\)")


def test_english_counts_agree_with_their_number():
    """ "1 alerts" / "photo(s)": every English text that counts with {n} has its singular (``en_one``)."""
    from cropwatch.core.i18n import t

    for catalogue in (MESSAGES, CATALOGUE):
        for key, entry in catalogue.items():
            if PLURAL.search(entry["en"]):
                assert "en_one" in entry and "(s)" not in entry["en"], f"{key!r}: {entry['en']!r} has no singular"
    assert t("digest_title", "en", n=1) == "Digest of 1 alert not sent yet:"
    assert t("digest_title", "en", n=3) == "Digest of 3 alerts not sent yet:"
    assert t("unread_alerts", "en", catalogue=MESSAGES, n=1) == "1 unread alert"
    assert t("unread_alerts", "vi", catalogue=MESSAGES, n=1) == "1 cảnh báo chưa xem"
