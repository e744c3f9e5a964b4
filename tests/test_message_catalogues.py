"""Issue 17: the message catalogues are gettext .po files (Babel), so a translator works in Poedit or Weblate; every
key the code and the templates use is found by Babel's extractors and is in a catalogue in both languages; plural
forms follow each language's rule; numbers are written by Babel for the reader's locale."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from api.web.messages import LOCALE_DIR as WEB_DIR
from api.web.messages import MESSAGES
from cropwatch.core.catalogue import extracted_keys, load, po_path, write
from cropwatch.core.i18n import CATALOGUE, LOCALE_DIR, Number, fmt_number, t

ROOT = Path(__file__).resolve().parents[1]


def test_the_po_files_are_what_the_app_reads_with_each_languages_plural_rule():
    for directory, domain, loaded in ((LOCALE_DIR, "cropwatch", CATALOGUE), (WEB_DIR, "web", MESSAGES)):
        for locale, plurals in (("vi", 1), ("en", 2)):
            with po_path(directory, locale, domain).open("rb") as f:
                catalog = read_po(f, locale=locale)
            assert catalog.num_plurals == plurals and catalog.locale.language == locale
            assert len(catalog) == len(loaded) and not [m.id for m in catalog if m.id and m.fuzzy]
    assert not set(CATALOGUE) & set(MESSAGES), "a key in both catalogues is ambiguous"


def test_every_key_the_code_and_templates_use_is_translated_in_both_languages():
    used = extracted_keys(ROOT)
    assert len(used) > 600 and "lots_title" in used and "chain_merge_crops" in used  # templates and Python both read
    missing = {key: where[:2] for key, where in used.items() if key not in MESSAGES and key not in CATALOGUE}
    assert not missing, f"keys used but in no catalogue: {missing}"
    for key in used:
        entry = MESSAGES.get(key) or CATALOGUE[key]
        assert entry.get("vi") and entry.get("en"), f"{key!r} lacks vi or en"


def test_a_translators_edit_of_a_po_file_reaches_the_pages(tmp_path):
    """What Poedit saves is what t() says: an edited msgstr and a plural entry read back from the .po files."""
    write(
        {"greeting": {"vi": "Xin chào {name}", "en": "Hello {name}"}, "n_traps": {"vi": "{n} bẫy", "en": "{n} traps",
         "en_one": "{n} trap"}},
        tmp_path,
        "test",
    )  # fmt: skip
    en = po_path(tmp_path, "en", "test")
    en.write_text(en.read_text().replace('msgstr "Hello {name}"', 'msgstr "Hi {name}"'))
    catalogue = load(tmp_path, "test")
    assert t("greeting", "en", catalogue=catalogue, name="Lan") == "Hi Lan"
    assert t("greeting", "vi", catalogue=catalogue, name="Lan") == "Xin chào Lan"
    assert [t("n_traps", "en", catalogue=catalogue, n=n) for n in (1, 4)] == ["1 trap", "4 traps"]
    assert t("n_traps", "vi", catalogue=catalogue, n=1) == "1 bẫy"


def test_numbers_are_written_for_their_reader_by_babel():
    assert (fmt_number(1234567.25, "vi"), fmt_number(1234567.25, "en")) == ("1.234.567,2", "1,234,567.2")
    assert (fmt_number(350.0, "vi"), fmt_number(20.456, "vi", digits=2)) == ("350", "20,46")
    assert t("chain_more_than_lot", "vi", kg=Number(1200.5), lot=Number(1000)) == (
        "1.200,5 kg nhiều hơn khối lượng của lô (1.000 kg)."
    )
