"""How long a text is on a channel, and how it splits: SMS segments, weighted characters,
numbered parts.

Pure functions, used by :func:`omnichannel.fitting.fit` and usable on their own:
:func:`segment_info` (SMS encoding and segments), :func:`weighted_length` (characters
counted by weight, URLs at a fixed cost) and :func:`split_text` (numbered parts split at word
boundaries, within any of these measures).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from omnichannel.capabilities import WeightedLength

__all__ = [
    "SegmentInfo",
    "contains_url",
    "segment_info",
    "sms_units",
    "split_text",
    "weighted_length",
]


# --- SMS segments -----------------------------------------------------------------------------

# GSM 03.38 default alphabet (one septet each; 0x1B is the escape, not a character) and its
# extension table (escape plus one septet, so two each). Greek capitals spelled as escapes.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039eÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
_SINGLE_LIMIT: Final = {"GSM-7": 160, "UCS-2": 70}
_CONCATENATED_LIMIT: Final = {"GSM-7": 153, "UCS-2": 67}


@attrs.frozen(kw_only=True)
class SegmentInfo:
    """How an SMS text is encoded and how many segments it travels (and is billed) as."""

    encoding: str
    """``GSM-7``, or ``UCS-2`` when any character is outside the GSM 03.38 tables."""
    units: int
    """Septets for GSM-7 (extension characters count two); UTF-16 code units for UCS-2."""
    segments: int


_GSM_ANY: Final = _GSM_BASIC | _GSM_EXTENSION


def _encoding_and_units(text: str) -> tuple[str, int]:
    # Set and str methods run in C: this is on every segmented send.
    if _GSM_ANY.issuperset(text):
        return "GSM-7", len(text) + sum(map(text.count, _GSM_EXTENSION))
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def _unit_costs(text: str) -> tuple[str, list[int]]:
    if _GSM_ANY.issuperset(text):
        return "GSM-7", [2 if char in _GSM_EXTENSION else 1 for char in text]
    return "UCS-2", [2 if ord(char) > 0xFFFF else 1 for char in text]


def sms_units(text: str) -> int:
    """The GSM-7 septets or UCS-2 units ``text`` costs as SMS."""
    return _encoding_and_units(text)[1]


def segment_info(text: str) -> SegmentInfo:
    """The encoding, length in units and segment count of ``text`` sent as one SMS.

    One message carries 160 GSM-7 septets or 70 UCS-2 units; a longer text is concatenated
    in segments of 153 or 67 (the rest is the concatenation header). A character is never
    split across segments (an extension character's escape pair, an emoji's surrogate pair),
    so a segment may carry one unit less. Empty text still travels as one message (a
    media-only message), so it counts one segment of zero units.
    """
    encoding, units = _encoding_and_units(text)
    if units <= _SINGLE_LIMIT[encoding]:
        return SegmentInfo(encoding=encoding, units=units, segments=1)
    size = _CONCATENATED_LIMIT[encoding]
    if units == len(text):  # every character costs one unit: plain arithmetic
        return SegmentInfo(encoding=encoding, units=units, segments=-(-units // size))
    _, costs = _unit_costs(text)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > size:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding=encoding, units=units, segments=segments)


# --- Splitting --------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*\S+")


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (as ``measure`` counts), numbered ``(1/3) ``.

    The numbering counts inside the limit. Parts break between words and keep the whitespace
    inside them; only a word longer than a whole part is cut. Text that fits is returned whole
    and unnumbered. Raises :class:`ValueError` when ``limit`` leaves no room beside the
    numbering.
    """
    if measure(text) <= limit:
        return [text]
    if not text.strip():
        return [""]
    digits = 1
    while True:
        bodies = _fill(text, limit, f"({'9' * digits}/{'9' * digits}) ", measure)
        total = len(bodies)
        if len(str(total)) <= digits:
            return [f"({index}/{total}) {body}" for index, body in enumerate(bodies, 1)]
        digits += 1


def _fill(text: str, limit: int, prefix: str, measure: Callable[[str], int]) -> list[str]:
    # The prefix is the widest numbering of this digit count; real numbers are never wider.
    bodies: list[str] = []
    current = ""
    for token in _TOKEN.findall(text):
        candidate = current + token if current else token.lstrip()
        if measure(prefix + candidate) <= limit:
            current = candidate
            continue
        if current:
            bodies.append(current)
        word = token.lstrip()
        while measure(prefix + word) > limit:
            # Every character costs at least one unit (SMS units too): start at the most that
            # could fit and cut back.
            cut = min(len(word) - 1, limit - len(prefix))
            while cut > 0 and measure(prefix + word[:cut]) > limit:
                cut -= 1
            if cut <= 0:
                raise ValueError(f"a limit of {limit} leaves no room for text beside {prefix!r}")
            bodies.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        bodies.append(current)
    return bodies


# --- Weighted characters ----------------------------------------------------------------------

_URL: Final = re.compile(r"https?://[^\s]+", re.IGNORECASE)
_JOINER: Final = 0x200D
_EMOJI_MODIFIERS: Final = frozenset({0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)})


def _is_emoji(point: int) -> bool:
    return 0x1F000 <= point <= 0x1FAFF or 0x2600 <= point <= 0x27BF or 0x1F1E6 <= point <= 0x1F1FF


def _tag_or_modifier(point: int) -> bool:
    return point in _EMOJI_MODIFIERS or 0xE0020 <= point <= 0xE007F


def _text_weight(text: str, rule: WeightedLength) -> int:
    total = 0
    points = [ord(char) for char in text]
    index = 0
    while index < len(points):
        point = points[index]
        if _is_emoji(point):
            # One emoji sequence: modifiers, tags and ZWJ-joined emoji ride on the first.
            index += 1
            while index < len(points):
                if _tag_or_modifier(points[index]):
                    index += 1
                elif (
                    points[index] == _JOINER
                    and index + 1 < len(points)
                    and _is_emoji(points[index + 1])
                ):
                    index += 2
                elif 0x1F1E6 <= point <= 0x1F1FF and 0x1F1E6 <= points[index] <= 0x1F1FF:
                    index += 1  # the second half of a flag
                    break
                else:
                    break
            total += rule.emoji_weight
            continue
        light = any(low <= point <= high for low, high in rule.light_ranges)
        total += 1 if light else rule.default_weight
        index += 1
    return total


def weighted_length(text: str, rule: WeightedLength) -> int:
    """``text``'s length in weighted characters under ``rule``: each URL counts
    ``rule.url_weight``; each other code point 1 inside the light ranges, else
    ``rule.default_weight``; an emoji sequence ``rule.emoji_weight`` once."""
    total, position = 0, 0
    for match in _URL.finditer(text):
        total += _text_weight(text[position : match.start()], rule) + rule.url_weight
        position = match.end()
    return total + _text_weight(text[position:], rule)


def contains_url(text: str) -> bool:
    """Whether ``text`` holds an ``http(s)://`` URL."""
    return _URL.search(text) is not None
