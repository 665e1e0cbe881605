"""Tests for content fitting: SMS segments, splitting, markup, media, templates and reports."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnichannel import fitting
from omnichannel.capabilities import Capabilities, MediaRules
from omnichannel.content import Content, Media, Template, TextFormat
from omnichannel.errors import ContentTooLong, UnsupportedFeature
from omnichannel.fitting import (
    FittedContent,
    FittingPolicy,
    FittingReport,
    MediaPolicy,
    fit,
)
from omnichannel.lengths import SegmentInfo, segment_info, split_text
from omnichannel.markup import html_to_plain, markdown_to_plain

NUMBERING = re.compile(r"^\((\d+)/(\d+)\) ")


def sms(**overrides: Any) -> Capabilities:
    """An SMS-like channel: phone addresses, segments, images only, no splitting."""
    values: dict[str, Any] = {
        "address_kind": "phone",
        "max_text_length": 1600,
        "sms_segments": True,
        "split_long_text": False,
        "media": MediaRules(content_types={"image/*"}, max_items=10, max_bytes=5_000_000),
    }
    return Capabilities(**{**values, **overrides})


def chat(**overrides: Any) -> Capabilities:
    """A chat-like channel: plain text only, no media, splits text over 100 characters."""
    values: dict[str, Any] = {
        "address_kind": "opaque",
        "max_text_length": 100,
        "split_long_text": True,
    }
    return Capabilities(**{**values, **overrides})


def email(**overrides: Any) -> Capabilities:
    """An email-like channel: every format, a subject, any attachment, no length limit."""
    values: dict[str, Any] = {
        "address_kind": "email",
        "formats": {"plain", "markdown", "html"},
        "subject": True,
        "media": MediaRules(max_items=20),
    }
    return Capabilities(**{**values, **overrides})


def image(name: str = "photo.jpg", **overrides: Any) -> Media:
    values: dict[str, Any] = {
        "url": f"https://files.example.com/{name}",
        "content_type": "image/jpeg",
        "filename": name,
        "size": 1000,
    }
    return Media(**{**values, **overrides})


def bodies(parts: list[str]) -> list[str]:
    """The parts without their ``(k/n) `` numbering."""
    return [NUMBERING.sub("", part) for part in parts]


# --- segment_info ---------------------------------------------------------------------------

# Every case of sms_segments.cases in tests/vectors.json (GSM 03.38 basic and extension
# tables, UCS-2 in UTF-16 code units; single 160/70, concatenated 153/67).
SEGMENT_VECTORS = [
    ("Hello world", "GSM-7", 11, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("€" * 80, "GSM-7", 160, 1),
    ("€" * 81, "GSM-7", 162, 2),
    ("Café au lait", "GSM-7", 12, 1),
    ("Café ☕", "UCS-2", 6, 1),
    ("😀" * 35, "UCS-2", 70, 1),
    ("😀" * 36, "UCS-2", 72, 2),
    ("b" * 1530, "GSM-7", 1530, 10),
    ("b" * 1531, "GSM-7", 1531, 11),
]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    SEGMENT_VECTORS,
    ids=[f"vector-{index}" for index in range(len(SEGMENT_VECTORS))],
)
def test_segment_info_matches_the_shared_vectors(
    text: str, encoding: str, units: int, segments: int
) -> None:
    assert segment_info(text) == SegmentInfo(encoding=encoding, units=units, segments=segments)


def test_inline_vectors_are_every_case_of_the_shared_file() -> None:
    path = Path(__file__).resolve().parent / "vectors.json"
    cases = json.loads(path.read_text(encoding="utf-8"))["sms_segments"]["cases"]
    expected = [(case["encoding"], case["units"], case["segments"]) for case in cases]
    assert [(enc, units, segs) for _, enc, units, segs in SEGMENT_VECTORS] == expected


@pytest.mark.parametrize("char", ["^", "{", "}", "\\", "[", "~", "]", "|", "€", "\f"])
def test_gsm_extension_characters_cost_two_septets(char: str) -> None:
    assert segment_info(f"a{char}") == SegmentInfo(encoding="GSM-7", units=3, segments=1)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Δ Ω Σ Ξ £ ¥ § ¿ ¡ Ñ ü à @ $ _", "GSM-7"),
        ("line one\nline two\r\n", "GSM-7"),
        ("Привет", "UCS-2"),
        ("a\tb", "UCS-2"),
        ("naïve", "UCS-2"),
        ("`backtick`", "UCS-2"),
    ],
)
def test_one_character_outside_the_gsm_tables_switches_the_whole_text_to_ucs2(
    text: str, encoding: str
) -> None:
    assert segment_info(text).encoding == encoding


def test_empty_text_counts_as_one_segment_of_zero_units() -> None:
    assert segment_info("") == SegmentInfo(encoding="GSM-7", units=0, segments=1)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        # 306 septets would fit in two 153-septet segments, but the euro's escape pair cannot
        # straddle the boundary after 152 letters.
        ("a" * 152 + "€" + "a" * 152, 3),
        # Likewise an emoji's surrogate pair after 66 UCS-2 units.
        ("ж" * 66 + "😀" + "ж" * 66, 3),
        ("a" * 153 + "€" + "a" * 151, 2),
    ],
)
def test_a_character_is_never_split_across_segments(text: str, segments: int) -> None:
    assert segment_info(text).segments == segments


# --- split_text -----------------------------------------------------------------------------


def test_text_that_fits_is_returned_whole_and_unnumbered() -> None:
    assert split_text("short text", 10) == ["short text"]


def test_text_over_limit_splits_at_word_boundaries_into_numbered_parts() -> None:
    parts = split_text("one two three four five six seven", 16)
    assert parts == ["(1/4) one two", "(2/4) three four", "(3/4) five six", "(4/4) seven"]
    assert all(len(part) <= 16 for part in parts)


def test_splitting_keeps_line_breaks_inside_a_part() -> None:
    assert split_text("first line\nsecond line and more", 24) == [
        "(1/2) first line\nsecond",
        "(2/2) line and more",
    ]


def test_a_word_longer_than_a_part_is_cut_hard() -> None:
    assert split_text("go https://example.com/a-very-long-path end", 16) == [
        "(1/5) go",
        "(2/5) https://ex",
        "(3/5) ample.com/",
        "(4/5) a-very-lon",
        "(5/5) g-path end",
    ]


def test_numbering_widens_when_there_are_ten_parts_or_more() -> None:
    parts = split_text(" ".join(["word"] * 40), 14)
    assert len(parts) >= 10
    assert parts[0].startswith(f"(1/{len(parts)}) ")
    assert all(len(part) <= 14 for part in parts)


def test_split_counts_with_the_given_measure() -> None:
    parts = split_text("€€€€ €€€€ €€€€", 16, measure=lambda text: segment_info(text).units)
    assert parts == ["(1/3) €€€€", "(2/3) €€€€", "(3/3) €€€€"]


def test_a_limit_with_no_room_beside_the_numbering_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        split_text("abcdefgh ijklmnop", 6)


WORD = st.text(alphabet=string.ascii_letters + string.digits + ".,!?'-€{", min_size=1, max_size=15)


@settings(deadline=None)
@given(
    words=st.lists(WORD, min_size=1, max_size=60),
    separators=st.lists(st.sampled_from([" ", "\n", "  ", " \n "]), min_size=60, max_size=60),
    limit=st.integers(min_value=30, max_value=200),
)
def test_every_split_part_is_within_the_limit_and_keeps_the_words_in_order(
    words: list[str], separators: list[str], limit: int
) -> None:
    text = "".join(word + separator for word, separator in zip(words, separators, strict=False))
    parts = split_text(text, limit)
    assert all(len(part) <= limit for part in parts)
    if len(parts) > 1:
        numbers = [NUMBERING.match(part) for part in parts]
        assert all(match is not None for match in numbers)
        assert [(int(m[1]), int(m[2])) for m in numbers if m] == [
            (index, len(parts)) for index in range(1, len(parts) + 1)
        ]
    assert " ".join(bodies(parts)).split() == words


@settings(deadline=None)
@given(text=st.text(min_size=1, max_size=400), limit=st.integers(min_value=12, max_value=160))
def test_any_text_splits_into_parts_within_the_limit_losing_only_whitespace(
    text: str, limit: int
) -> None:
    for measure in (len, lambda part: segment_info(part).units):
        parts = split_text(text, limit, measure=measure)
        assert all(measure(part) <= limit for part in parts)
        kept = "".join(bodies(parts)) if len(parts) > 1 else parts[0]
        assert "".join(kept.split()) == "".join(text.split())


# --- markup to plain text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**bold** and *italic* and _under_ and ~~gone~~", "bold and italic and under and gone"),
        ("# Title\n\n## Sub ##\nbody", "Title\n\nSub\nbody"),
        ("see [the docs](https://x.io/a_b_c) now", "see the docs (https://x.io/a_b_c) now"),
        ("[https://x.io](https://x.io)", "https://x.io"),
        ("![a chart](https://x.io/c.png)", "a chart (https://x.io/c.png)"),
        ("<https://x.io/_x_>", "https://x.io/_x_"),
        ("visit https://x.io/*a*/_b_ today", "visit https://x.io/*a*/_b_ today"),
        (
            "* one\n+ two\n- three\n  * nested\n1. four",
            "- one\n- two\n- three\n  - nested\n1. four",
        ),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        ("`code *kept*` and \\*escaped\\*", "code *kept* and *escaped*"),
        ("```\nraw **kept**\n```\nafter", "raw **kept**\nafter"),
        ("> quoted **text**", "quoted text"),
        ("***both***", "both"),
        ("#hashtag stays", "#hashtag stays"),
    ],
)
def test_markdown_becomes_plain_text(markdown: str, plain: str) -> None:
    assert markdown_to_plain(markdown) == plain


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("<p>Hello <b>there</b></p>", "Hello there"),
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("<p>first</p><p>second</p>", "first\n\nsecond"),
        ("Tom &amp; Jerry &lt;3 caf&eacute; &#8364;", "Tom & Jerry <3 café €"),
        ('<a href="https://x.io/?a=1&amp;b=2">the link</a>', "the link (https://x.io/?a=1&b=2)"),
        ('<a href="https://x.io">https://x.io</a>', "https://x.io"),
        ("<ul>\n  <li>one</li>\n  <li> two </li>\n</ul>", "- one\n- two"),
        ("<style>p { color: red }</style><script>x()</script>shown", "shown"),
        ("<h1>Title</h1>\n\n  <div>  spaced    out\n text </div>", "Title\n\nspaced out text"),
        ('<img src="https://x.io/a.png" alt="logo"> text', "logo text"),
    ],
)
def test_html_becomes_plain_text(markup: str, plain: str) -> None:
    assert html_to_plain(markup) == plain


# --- fit: nothing to change -----------------------------------------------------------------


def test_content_that_fits_comes_back_unchanged_with_an_empty_report() -> None:
    content = Content(text="Hello", subject="Hi", format="html", media=[image()])
    fitted = fit(content, email())
    assert fitted == FittedContent(parts=(content,), report=FittingReport())
    assert not fitted.report.changed


def test_sms_report_counts_encoding_and_segments_without_a_note() -> None:
    fitted = fit(Content(text="a" * 200), sms())
    assert fitted.parts == (Content(text="a" * 200),)
    assert fitted.report == FittingReport(encoding="GSM-7", segments=2)


def test_media_only_sms_counts_one_segment() -> None:
    fitted = fit(Content(media=[image()]), sms())
    assert (fitted.report.segments, fitted.report.encoding) == (1, "GSM-7")


# --- fit: format and subject ----------------------------------------------------------------


def test_markdown_on_a_plain_channel_becomes_plain_text_and_says_so() -> None:
    fitted = fit(Content(text="**Hi** [docs](https://x.io)", format="markdown"), chat())
    assert fitted.parts == (Content(text="Hi docs (https://x.io)"),)
    assert fitted.report.markup_dropped
    assert fitted.report.notes == (
        "The channel does not render markdown, so the markup was removed.",
    )


def test_html_on_a_plain_channel_becomes_plain_text() -> None:
    fitted = fit(Content(text="<p>Hi<br>there &amp; bye</p>", format="html"), chat())
    assert fitted.parts[0].text == "Hi\nthere & bye"
    assert fitted.parts[0].format is TextFormat.PLAIN
    assert fitted.report.markup_dropped


def test_the_plain_alternative_is_preferred_to_converting_markup() -> None:
    content = Content(text="<p>Hi</p>", format="html", plain_alternative="Hello, written by hand")
    fitted = fit(content, chat())
    assert fitted.parts == (Content(text="Hello, written by hand"),)
    assert "plain alternative" in fitted.report.notes[0]


def test_markup_the_channel_renders_is_kept() -> None:
    content = Content(text="**Hi**", format="markdown")
    assert fit(content, chat(formats={"plain", "markdown"})).parts == (content,)


def test_a_subject_the_channel_cannot_carry_is_dropped_and_noted() -> None:
    fitted = fit(Content(text="Body", subject="Order 42"), chat())
    assert fitted.parts == (Content(text="Body"),)
    assert fitted.report.subject_dropped
    assert fitted.report.notes == ("The channel has no subject line, so the subject was dropped.",)


# --- fit: media -----------------------------------------------------------------------------


def test_media_on_a_channel_without_attachments_become_links_with_captions() -> None:
    content = Content(text="Your receipt", media=[image(caption="Receipt"), image("b.jpg")])
    fitted = fit(content, chat())
    assert fitted.parts == (
        Content(
            text="Your receipt\nReceipt: https://files.example.com/photo.jpg\n"
            "https://files.example.com/b.jpg"
        ),
    )
    assert fitted.report.media_as_links == 2
    assert "2 media items went as links" in fitted.report.notes[0]


def test_media_rejected_by_policy_raise_naming_how_many_and_why() -> None:
    content = Content(text="See", media=[image(), image("doc.pdf", content_type="application/pdf")])
    with pytest.raises(UnsupportedFeature, match=r"1 of 2 media items") as caught:
        fit(content, sms(), FittingPolicy(media=MediaPolicy.REJECT))
    assert "doc.pdf: type application/pdf is not accepted" in str(caught.value)
    assert "https://" not in str(caught.value)


def test_an_unaccepted_type_becomes_a_link_and_accepted_media_stay_attached() -> None:
    pdf = image("doc.pdf", content_type="application/pdf")
    fitted = fit(Content(text="See", media=[image(), pdf]), sms())
    assert fitted.parts[0].media == (image(),)
    assert fitted.parts[0].text == f"See\n{pdf.url}"
    assert fitted.report.media_as_links == 1
    assert "type application/pdf is not accepted" in fitted.report.notes[0]


def test_oversized_media_become_links() -> None:
    big = image("big.jpg", size=6_000_000)
    fitted = fit(Content(text="Photo", media=[big]), sms())
    assert fitted.parts[0].media == ()
    assert fitted.parts[0].text == f"Photo\n{big.url}"
    assert "6000000 bytes is over the limit of 5000000" in fitted.report.notes[0]


def test_media_beyond_max_items_become_links() -> None:
    items = [image("1.jpg"), image("2.jpg"), image("3.jpg")]
    fitted = fit(Content(media=items), sms(media=MediaRules(content_types={"image/*"})))
    assert fitted.parts[0].media == (items[0],)
    assert fitted.parts[0].text == f"{items[1].url}\n{items[2].url}"
    assert fitted.report.media_as_links == 2
    assert "at most 1 item" in fitted.report.notes[0]


def test_too_many_media_rejected_by_policy_raise() -> None:
    items = [image("1.jpg"), image("2.jpg")]
    caps = sms(media=MediaRules(content_types={"image/*"}))
    with pytest.raises(UnsupportedFeature, match=r"1 of 2 media items .*2.jpg: .*at most 1 item"):
        fit(Content(text="x", media=items), caps, FittingPolicy(media=MediaPolicy.REJECT))


def test_links_in_html_text_are_anchors_and_the_plain_alternative_gets_them_too() -> None:
    content = Content(
        text="<p>Hi</p>", format="html", plain_alternative="Hi", media=[image(caption="A & B")]
    )
    fitted = fit(content, email(media=None))
    url = image().url
    assert fitted.parts[0].text == f'<p>Hi</p><br><a href="{url}">A &amp; B</a>'
    assert fitted.parts[0].plain_alternative == f"Hi\nA & B: {url}"


# --- fit: templates -------------------------------------------------------------------------


def test_a_template_on_a_channel_with_templates_is_used_and_not_length_checked() -> None:
    content = Content(text="x" * 500, template=Template(name="order_update"))
    fitted = fit(content, chat(templates=True, split_long_text=False))
    assert fitted.parts == (content,)
    assert fitted.report == FittingReport(template_used="order_update")


def test_a_template_falls_back_to_fallback_text_where_templates_are_not_sent() -> None:
    content = Content(
        text="**ignored**",
        format="markdown",
        template=Template(name="order_update"),
        fallback_text="Your order shipped",
    )
    fitted = fit(content, chat())
    assert fitted.parts == (Content(text="Your order shipped"),)
    assert fitted.report.template_used is None
    assert fitted.report.notes == (
        "The channel cannot send templates, so the fallback text was sent instead of "
        "'order_update'.",
    )


def test_a_template_without_fallback_text_falls_back_to_the_text() -> None:
    fitted = fit(Content(text="Shipped", template=Template(name="t")), chat())
    assert fitted.parts == (Content(text="Shipped"),)
    assert "the text was sent" in fitted.report.notes[0]


def test_a_template_with_neither_fallback_nor_text_raises() -> None:
    with pytest.raises(UnsupportedFeature, match="add fallback_text"):
        fit(Content(template=Template(name="order_update")), chat())


def test_a_template_with_media_the_channel_cannot_attach_raises() -> None:
    content = Content(template=Template(name="t"), media=[image()])
    with pytest.raises(UnsupportedFeature, match="template message has no free text"):
        fit(content, chat(templates=True))


# --- fit: length ----------------------------------------------------------------------------


def test_text_over_the_limit_raises_content_too_long_naming_length_and_limit() -> None:
    with pytest.raises(ContentTooLong, match=r"1601 GSM-7 units .* at most 1600"):
        fit(Content(text="a" * 1601), sms())


def test_sms_length_counts_segment_units_not_characters() -> None:
    with pytest.raises(ContentTooLong, match="12 GSM-7 units"):
        fit(Content(text="€" * 6), sms(max_text_length=10))


def test_text_over_the_limit_raises_when_the_policy_forbids_splitting() -> None:
    with pytest.raises(ContentTooLong, match=r"101 characters .*fitting policy"):
        fit(Content(text="a " * 50 + "b"), chat(), FittingPolicy(split=False))


def test_long_text_splits_into_parts_with_subject_and_media_only_on_the_first() -> None:
    caps = chat(subject=True, media=MediaRules(max_items=5))
    content = Content(text=" ".join(["word"] * 50), subject="S", media=[image()])
    fitted = fit(content, caps)
    assert fitted.report.parts == len(fitted.parts) == 3
    first, *rest = fitted.parts
    assert (first.subject, first.media) == ("S", (image(),))
    assert all(part.subject is None and part.media == () for part in rest)
    assert [part.text[:6] for part in fitted.parts] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert all(len(part.text) <= 100 for part in fitted.parts)
    assert fitted.report.notes == (
        "The text is 249 characters, over the limit of 100, so it was split in 3 parts.",
    )


def test_split_sms_reports_segments_summed_over_parts_and_ucs2_if_any_part_needs_it() -> None:
    text = "a" * 150 + " " + "b" * 100 + " ☕"
    fitted = fit(Content(text=text), sms(max_text_length=160, split_long_text=True))
    assert [part.text for part in fitted.parts] == [
        "(1/2) " + "a" * 150,
        "(2/2) " + "b" * 100 + " ☕",
    ]
    assert fitted.report.encoding == "UCS-2"
    assert fitted.report.segments == 1 + 2


# --- the report -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "capabilities", "changed"),
    [
        (Content(text="plain"), chat(), False),
        (Content(text="plain", media=[image()]), sms(), False),
        (Content(text="t", template=Template(name="t")), chat(templates=True), False),
        (Content(text="*md*", format="markdown"), chat(), True),
        (Content(text="x", subject="s"), sms(), True),
        (Content(text="x", media=[image()]), chat(), True),
        (Content(text="x", template=Template(name="t")), chat(), True),
        (Content(text="word " * 30), chat(), True),
    ],
    ids=["plain", "sms-media", "template", "markdown", "subject", "media", "no-template", "long"],
)
def test_the_report_has_notes_exactly_when_something_changed(
    content: Content, capabilities: Capabilities, changed: bool
) -> None:
    report = fit(content, capabilities).report
    assert report.changed is changed
    assert bool(report.notes) is changed
    reported = (
        report.parts > 1,
        report.media_as_links > 0,
        report.markup_dropped,
        report.subject_dropped,
    )
    if any(reported):
        assert changed


def test_the_report_is_json_ready() -> None:
    report = fit(Content(text="x", subject="s"), sms()).report
    data = json.loads(json.dumps(report.to_dict()))
    assert data == {
        **attrs.asdict(report),
        "notes": ["The channel has no subject line, so the subject was dropped."],
        "choices": [],
    }
    assert FittingReport.from_dict(data) == report


def test_all_is_sorted_and_names_every_public_definition() -> None:
    defined = {
        name
        for name, value in vars(fitting).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == fitting.__name__
    }
    assert fitting.__all__ == sorted(fitting.__all__)
    assert set(fitting.__all__) == defined
