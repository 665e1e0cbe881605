"""Markup to plain text, for channels that render neither markdown nor HTML.

Links keep their target as ``text (url)``, list bullets stay ``- ``, headings and emphasis
markers go. Used by :func:`omnichannel.fitting.fit`; pure functions, usable on their own.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

__all__ = ["html_to_plain", "markdown_to_plain"]


def _link_text(text: str, url: str) -> str:
    text = text.strip()
    return url if not text or text == url else f"{text} ({url})"


_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)(.*?)(?:[ \t]+#+)?[ \t]*$")
_MD_BULLET = re.compile(r"^(\s*)[*+-][ \t]+")
_MD_QUOTE = re.compile(r"^ {0,3}>[ \t]?")
_MD_KEPT = re.compile(  # set aside before emphasis, so markers inside them survive
    r"(`+)(?P<code>.+?)\1"
    r"|\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|!?\[(?P<label>[^\]]*)\]\(\s*<?(?P<href>[^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
    r"|<(?P<autolink>(?:https?|mailto):[^>\s]+)>"
    r"|(?P<url>https?://[^\s<>]+)"
)
_MD_EMPHASIS: Final = (
    re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(?<!\*)(\*)(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)"),
    re.compile(r"(?<![\w_])(_)(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"),
)


def _md_emphasis(text: str) -> str:
    for pattern in _MD_EMPHASIS:
        text = pattern.sub(r"\2", text)
    return text


def _md_inline(line: str) -> str:
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        if match["href"] is not None:
            kept.append(_link_text(_md_emphasis(match["label"]), match["href"]))
        else:
            kept.append(match["code"] or match["escaped"] or match["autolink"] or match["url"])
        return f"\x00{len(kept) - 1}\x00"

    line = _md_emphasis(_MD_KEPT.sub(keep, line))
    return _PLACEHOLDER.sub(lambda match: kept[int(match[1])], line)


def markdown_to_plain(text: str) -> str:
    """Markdown as plain text: markers dropped, links as ``text (url)``, bullets as ``- ``."""
    lines: list[str] = []
    in_code = False
    for line in text.replace("\x00", "").split("\n"):
        if _MD_FENCE.match(line):
            in_code = not in_code
        elif in_code:
            lines.append(line)
        else:
            line = _MD_QUOTE.sub("", line)
            heading = _MD_HEADING.match(line)
            line = heading[1] if heading else _MD_BULLET.sub(r"\1- ", line)
            lines.append(_md_inline(line))
    return "\n".join(lines).strip()


_HTML_BLOCKS: Final = frozenset(
    {"blockquote", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table"}
    | {"tr", "ul", "section", "article", "header", "footer", "address", "dl", "dt", "dd"}
)


class _PlainTextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._href: str | None = None
        self._link_start = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in ("br", "li") or tag in _HTML_BLOCKS:
            self.out.append({"br": "\n", "li": "\n- "}.get(tag, "\n\n"))
        elif tag == "a":
            self._href = dict(attrs).get("href")
            self._link_start = len(self.out)
        elif tag == "img":
            self.handle_data(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skipping = max(0, self._skipping - 1)
        elif tag in _HTML_BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self._href is not None:
            text = "".join(self.out[self._link_start :])
            self.out[self._link_start :] = [_link_text(text, self._href)]
            self._href = None

    def handle_data(self, data: str) -> None:
        # HTML whitespace rules: runs collapse to one space, none at the start of a line.
        data = re.sub(r"\s+", " ", data)
        if not self.out or self.out[-1][-1:].isspace():
            data = data.lstrip()
        if not self._skipping:
            self.out.append(data)


def html_to_plain(markup: str) -> str:
    """HTML as plain text: tags stripped, entities unescaped, links as ``text (url)``."""
    parser = _PlainTextParser()
    parser.feed(markup)
    parser.close()
    text = "\n".join(line.rstrip() for line in "".join(parser.out).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
