"""Message catalogues as gettext ``.po`` files, read and written with Babel.

A catalogue lives in ``{directory}/{locale}/LC_MESSAGES/{domain}.po`` for each locale (``vi``, ``en``); its msgids
are message keys (``lots_title``), its msgstrs the texts, with ``{name}`` placeholders filled by ``i18n.t``. A text
that counts (``{n} alerts``) is a plural entry: Vietnamese has one form (``nplurals=1``), English two
(``n != 1``). The ``.po`` files are read as they are at start-up (no compile step: they are the one source, and a
translator's Poedit or Weblate edits them directly); ``make messages`` extracts the keys the code and templates
use (Babel's extractors, ``babel.cfg``, the keywords below) into ``messages.pot`` for a new language.

In memory an entry is ``{"vi": text, "en": text, "en_one": singular}`` (``en_one`` only for plural entries), the
shape ``i18n.t`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALES = ("vi", "en")


def po_path(directory: Path, locale: str, domain: str) -> Path:
    return directory / locale / "LC_MESSAGES" / f"{domain}.po"


def load(directory: Path, domain: str) -> dict[str, dict[str, str]]:
    """The domain's entries from its ``.po`` files, keyed by message key; an untranslated or fuzzy msgstr is left
    out, so ``i18n.t`` falls back to Vietnamese."""
    entries: dict[str, dict[str, str]] = {}
    for locale in LOCALES:
        path = po_path(directory, locale, domain)
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=domain)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            key = message.id[0] if isinstance(message.id, tuple | list) else message.id
            entry = entries.setdefault(key, {})
            if isinstance(message.string, tuple | list):  # plural: English one / other, Vietnamese one form
                forms = [s for s in message.string]
                if locale == "en" and len(forms) >= 2 and forms[0] and forms[1]:
                    entry["en_one"], entry["en"] = forms[0], forms[1]
                elif forms and forms[-1]:
                    entry[locale] = forms[-1]
            elif message.string:
                entry[locale] = message.string
    return {key: entry for key, entry in entries.items() if "vi" in entry}


def write(
    entries: Mapping[str, Mapping[str, str]],
    directory: Path,
    domain: str,
    *,
    comments: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Write ``entries`` as the domain's ``.po`` files (an entry with ``en_one`` as a plural one)."""
    for locale in LOCALES:
        catalog = Catalog(
            locale=locale,
            domain=domain,
            project="CropWatch",
            version="0.1",
            copyright_holder="CropWatch contributors (AGPL-3.0-only)",
            last_translator="CropWatch maintainers",
            language_team="Tiếng Việt" if locale == "vi" else "English",
            charset="utf-8",
            fuzzy=False,
        )
        for key, entry in entries.items():
            notes = list((comments or {}).get(key, ()))
            if "en_one" in entry:
                forms = (entry["vi"],) if locale == "vi" else (entry["en_one"], entry["en"])
                catalog.add((key, key), forms, auto_comments=notes)
            else:
                catalog.add(key, entry.get(locale, ""), auto_comments=notes)
        path = po_path(directory, locale, domain)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=120, omit_header=False, sort_output=False, include_previous=False)


#: where a message key appears in the code (pybabel's keyword specs): the first argument of these calls, the second
#: of ``ApiError(status, key)``; Jinja2 templates use ``_()`` (Babel's default keywords cover it)
EXTRACT_KEYWORDS = (
    "t",
    "translate",
    "Message",
    "ApiError:2",
    "_refuse",
    "ChainRefused",
    "CertificationRefused",
    "IngestError:2",
)
EXTRACT_DIRS = ("api", "cropwatch", "camera_agents")


def extracted_keys(root: Path) -> dict[str, list[str]]:
    """{message key: [file:line, …]} for every key the code and the templates under ``root`` use (babel.cfg)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_keywords, parse_mapping_cfg

    keywords = dict(DEFAULT_KEYWORDS) | parse_keywords(list(EXTRACT_KEYWORDS))
    with (root / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, list[str]] = {}
    for directory in EXTRACT_DIRS:
        for filename, lineno, message, _, _ in extract_from_dir(
            root / directory, method_map, options_map, keywords=keywords
        ):
            key = message[0] if isinstance(message, tuple) else message
            found.setdefault(key, []).append(f"{directory}/{filename}:{lineno}")
    return found


if __name__ == "__main__":  # python -m cropwatch.core.catalogue messages.pot: the keys in use, as a .po template
    import sys

    from babel.messages.pofile import write_po as _write

    root = Path(__file__).resolve().parents[2]
    template = Catalog(project="CropWatch", version="0.1", fuzzy=False)
    for key in sorted(extracted_keys(root)):
        template.add(key)
    with open(sys.argv[1] if len(sys.argv) > 1 else "messages.pot", "wb") as f:
        _write(f, template, width=120)
