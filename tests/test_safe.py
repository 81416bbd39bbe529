"""Text from the data shows as written: md_text and md_code against a CommonMark renderer
(markdown-it-py, with GFM tables, strikethrough and bare-link detection) and against the patterns
Streamlit's frontend applies after parsing (emoji shortcodes, bare links, ``:material/``);
html_text against the way plotly.js reads its text (tags split first, entities decoded after).

The oracle is the renderer's own token stream, never the escaper's rule: a plausible bug (a
character left out of the escaped set, a newline kept) yields a link, an image, emphasis or HTML
there, or visible text that differs from the input."""
from __future__ import annotations

import re

from hypothesis import example, given, settings, strategies as st
from markdown_it import MarkdownIt
import pytest

from workbench.render.safe import JOINER, html_text, md_code, md_text

HOSTILE = ["<img src=x onerror=window.__pwned=1>", "[click](http://127.0.0.1:9/x)", "![i](http://127.0.0.1:9/i.png)",
           ":red[alarm]", "**bold**", '<a href="http://127.0.0.1:9">a</a>', "http://127.0.0.1:9/x", "www.example.com",
           "me@example.com", ":smile:", ":material/lock:", "$x^2$", "# heading", "1. item", "- item", "> quote",
           "| a | b |\n|---|---|", "`code`", "~~gone~~", "&lt;b&gt;", "a\\*b", "    indented", "line\n\n# two",
           "<https://example.com>", "[ref]: http://x", "x_y_z", "%{x}", "___", "***", ":+1:", "[x][y]"]

# markup a reader could act on, or that changes what the text looks like
MARKUP = {"link_open", "image", "html_inline", "html_block", "em_open", "strong_open", "code_inline", "s_open",
          "heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "table_open", "code_block",
          "fence", "hr", "hardbreak"}
_md = MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"])

# what Streamlit's frontend finds in parsed plain text (remark-emoji; mdast-util-gfm-autolink-literal)
STREAMLIT_TEXT_PATTERNS = [re.compile(r":\+1:|:-1:|:[\w-]+:"), re.compile(r"(https?://|www(?=\.))", re.I),
                           re.compile(r"[-.\w+]+@[-\w]+(\.[-\w]+)+")]


def shown(markdown: str) -> str:
    """What a reader sees of escaped markdown: each escape's character, no word joiners."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(JOINER, "")


def _inline(markdown: str) -> list:
    blocks = _md.parse(markdown)
    types = {t.type for t in blocks}
    assert types <= {"paragraph_open", "inline", "paragraph_close"}, types  # one paragraph, no other block
    return [c for t in blocks if t.type == "inline" for c in t.children]


def _visible(markdown: str) -> tuple[set, str]:
    children = _inline(markdown)
    text = "".join(c.content if c.type == "text" else " " if c.type == "softbreak" else "" for c in children)
    return {c.type for c in children}, text


def _expected(text: str) -> str:
    return re.sub(r"\r\n|\r|\n", " ", text)


# text without NUL (markdown turns it into U+FFFD) and with something visible at each end
# (a paragraph drops its leading and trailing blanks, as a page would anyway)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=60) \
    .filter(lambda s: s.strip() == s and s.strip(" \t\r\n\x0b\x0c") == s)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_written(text):
    escaped = md_text(text)
    types, visible = _visible(escaped)
    assert not types & MARKUP, types
    assert visible.replace(JOINER, "") == _expected(text).strip() or visible.replace(JOINER, "") == _expected(text)
    for pattern in STREAMLIT_TEXT_PATTERNS:
        assert not pattern.search(visible), (pattern, visible)


@settings(max_examples=400, deadline=None)
@given(texts)
@example("[x](http://h/i.png)")
@example("a\n- b")
@example("WWW.Example.com")
def test_any_text_renders_as_written(text):
    escaped = md_text(text)
    types, visible = _visible(escaped)
    assert not types & MARKUP, types
    assert visible.replace(JOINER, "") == _expected(text)
    for pattern in STREAMLIT_TEXT_PATTERNS:
        assert not pattern.search(visible), (pattern, visible)
    # Streamlit's own syntax, read from the source: every ':' (directives, material icons) and
    # '$' (math) escaped, and the source rewrite ':material/' -> ':material_' finds nothing
    assert not re.search(r"(?<!\\)[:$]", escaped) and ":material/" not in escaped
    assert shown(escaped) == _expected(text)


@given(texts, texts)
@settings(max_examples=100, deadline=None)
def test_escaped_text_inside_a_sentence_stays_inside(a, b):
    """Escaped text cannot close the markup around it: bold stays one bold run."""
    children = _inline(f"**{md_text(a)}** and {md_text(b)}")
    assert [c.type for c in children if c.type.endswith("_open")] == ["strong_open"]


@settings(max_examples=300, deadline=None)
@given(texts)
@example("a`b")
@example("`x")
@example("x:material/lock:")
def test_code_span_holds_any_text(text):
    children = _inline(md_code(text))
    assert [c.type for c in children] == ["code_inline"]
    assert children[0].content.replace(JOINER, "") == _expected(text)


# the named entities plotly.js decodes (svg_text_utils.js, as bundled with Streamlit); any
# other name, &quot; included, stays as written
PLOTLY_ENTITIES = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×", "plusmn": "±",
                   "deg": "°"}


def plotly_reads(text: str) -> tuple[list[str], str]:
    """plotly.js's svg_text_utils.convertToTspans, as far as text goes: the tags it splits out,
    then the text with its entities decoded (decimal, hex and the names it knows)."""
    parts = re.split(r"(<[^<>]*>)", text)
    tags = [p for p in parts if re.fullmatch(r"<[^<>]*>", p)]
    body = "".join(p for p in parts if p not in tags)

    def decode(m: re.Match) -> str:
        ref = m.group(1)
        if ref.startswith("#"):
            return chr(int(ref[2:], 16) if ref[1] == "x" else int(ref[1:]))
        return PLOTLY_ENTITIES.get(ref, m.group(0))
    return tags, re.sub(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);", decode, body)


@settings(max_examples=400, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
@example('<a href="http://127.0.0.1:9">a</a>')
@example("%{x}<br>$1$ &amp; &#60; &mu; &quot;")
@example('<a href="http://127.0.0.1:9">a</a>')
def test_plotly_text_shows_as_written(text):
    escaped = html_text(text)
    tags, visible = plotly_reads(escaped)
    assert tags == [] and visible == _expected(text)
    assert "%{" not in escaped and "$" not in escaped  # no template placeholder, no LaTeX


def test_known_escapes():
    assert md_text("a*b") == r"a\*b" and md_text("x\ny") == "x y"
    assert md_code("a`b") == "``a`b``" and md_code("") == ""
    assert html_text("<b>") == "&lt;b&gt;"
