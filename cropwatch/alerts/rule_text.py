"""What an alert rule says, in the reader's language, generated from the rule itself (so it follows every change),
and the pest names a rule accepts (Vietnamese or English, from the production models' classes)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from cropwatch.core.i18n import fmt_number, t

SPECIAL_CLASSES = {"silence": "camera_silent", "harvest_window": "harvest_window"}


def unit_text(unit: str | None, lang: str = "vi") -> str:
    return t(f"unit_{unit or 'auto'}", lang)


def pest_name(class_name: str, lang: str, names_vi: Mapping[str, str] | None) -> str:
    if class_name in SPECIAL_CLASSES.values():
        return t(f"rule_class_{class_name}", lang)
    return (names_vi or {}).get(class_name, class_name) if lang == "vi" else class_name


def params_text(kind: str, params: Mapping | None, lang: str = "vi") -> str:
    """A rule's parameters in words ("tăng ≥ 50% so với hôm qua"), never raw JSON."""
    p = dict(params or {})
    if kind == "trend":
        return t("rule_params_trend", lang, pct=fmt_number(float(p.get("rise_pct", 50)), lang))
    if kind == "seasonal":
        return t("rule_params_seasonal", lang, pct=fmt_number(float(p.get("margin_pct", 0)), lang))
    if kind == "silence":
        return t("rule_params_silence", lang, hours=fmt_number(float(p.get("hours", 6)), lang))
    if kind == "harvest_window":
        return t(
            "rule_params_harvest",
            lang,
            share=fmt_number(100 * float(p.get("share", 0.3)), lang),
            target=fmt_number(100 * float(p.get("target", 0.8)), lang),
            days=int(p.get("days", 7)),
        )
    return ""


def rule_label(rule, lang: str = "vi", names_vi: Mapping[str, str] | None = None) -> str:
    """ "Rầy nâu ≥ 3 con mới/bẫy/ngày", "Camera im lặng 6 giờ", …: what the rule checks, from its fields."""
    pest = pest_name(rule.class_name, lang, names_vi)
    if rule.kind == "silence":
        return f"{pest} · {params_text(rule.kind, rule.params, lang)}"
    if rule.kind == "harvest_window":
        return f"{pest} · {params_text(rule.kind, rule.params, lang)}"
    label = f"{pest} ≥ {fmt_number(rule.threshold, lang)} {unit_text(rule.unit, lang)}"
    if rule.kind in ("trend", "seasonal"):
        label += f" · {params_text(rule.kind, rule.params, lang)}"
    return label


def _fold(text: str) -> str:
    """Case- and accent-insensitive key ("Rầy nâu" == "ray nau"); đ → d, as Vietnamese users type without marks."""
    text = unicodedata.normalize("NFD", text.strip().lower()).replace("đ", "d")
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


class UnknownPest(ValueError):
    """No class of the production models has this name (``ambiguous``: several do, e.g. the rice model's and the
    vegetable model's "sâu cuốn lá"; ``known`` then lists only those)."""

    def __init__(self, name: str, known: list[str], *, ambiguous: bool = False) -> None:
        super().__init__(name)
        self.name, self.known, self.ambiguous = name, known, ambiguous

    @property
    def code(self) -> str:
        return "ambiguous_pest" if self.ambiguous else "unknown_pest"


def resolve_pest(name: str, classes: Mapping[str, str]) -> str:
    """The model class a rule's pest field means: its English class name or its Vietnamese name, with or without
    accents. ``classes``: {class name: Vietnamese name}. Raises :class:`UnknownPest` with the choices."""
    wanted = _fold(name)
    for cls in classes:
        if wanted == _fold(cls):
            return cls
    by_vi = [cls for cls, vi in classes.items() if wanted == _fold(vi or "")]
    if len(by_vi) == 1:
        return by_vi[0]
    if by_vi:
        raise UnknownPest(name, [f"{classes[cls]} ({cls})" for cls in sorted(by_vi)], ambiguous=True)
    raise UnknownPest(name, [f"{vi} ({cls})" if vi and vi != cls else cls for cls, vi in sorted(classes.items())])
