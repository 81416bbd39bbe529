"""Text from the data, made safe to show in the app: a column name, a value, a slice's label,
a run's or dataset's name, a file name or an error message is shown to the user exactly as
written, never read as markup that could draw a link, load a remote image or run script.

Two sinks read markup. Streamlit reads Markdown (GitHub-flavoured, plus math, emoji shortcodes
and its own ``:red[...]`` / ``:material/...:`` directives) in ``st.markdown``, captions,
headings, notices, widget labels and radio options; ``md_text`` escapes for those. Plotly reads
a subset of HTML (``<a href>``, ``<b>``, ``<br>``, entities), ``%{...}`` placeholders in hover
templates and ``$...$`` as LaTeX in titles, axes, hover text, legends and annotations;
``html_text`` escapes for those.
"""
from __future__ import annotations

import html
import re

__all__ = ["md_text", "md_code", "html_text"]

# U+2060 WORD JOINER: invisible and zero width. Streamlit turns some text into markup *after*
# parsing, on the plain text itself (so a backslash does not stop it): ``:smile:`` emoji
# shortcodes and bare ``http://``, ``www.`` and ``name@host`` links. A joiner after the colon,
# the at-sign and inside ``www.`` breaks those patterns while the text reads the same.
JOINER = "\u2060"
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_WWW = re.compile(r"(?i)(?<=www)(?=\\\.)")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_INDENT = re.compile(r"^[ \t]+")


def md_text(text: object) -> str:
    """``text`` escaped for any Streamlit element that reads Markdown, so that it shows as written.

    Every ASCII punctuation character gets a backslash (CommonMark shows ``\\*`` as ``*``), which
    stops links, images, emphasis, code, HTML, tables, math, headings, lists and Streamlit's
    directives; line breaks become spaces (a value cannot start a new block) and leading blanks
    character references (four would start a code block); a word joiner
    breaks the emoji shortcodes and bare links that Streamlit finds in plain text.

    >>> md_text("[x](http://h/i.png) **b**")
    '\\\\[x\\\\]\\\\(http\\\\:\\u2060\\\\/\\\\/h\\\\/i\\\\.png\\\\) \\\\*\\\\*b\\\\*\\\\*'
    """
    s = _NEWLINES.sub(" ", str(text))
    s = _PUNCTUATION.sub(r"\\\1", s)
    s = s.replace("\\:", "\\:" + JOINER).replace("\\@", "\\@" + JOINER)
    s = _WWW.sub(JOINER, s)
    # leading blanks as character references: four would start a code block, and fewer are dropped
    return _INDENT.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group(0)), s)


def md_code(text: object) -> str:
    """``text`` as a Markdown code span (shown in a monospace font, as written) for any Streamlit
    element that reads Markdown: fenced by more backticks than any run inside it.

    >>> md_code("a`b")
    '``a`b``'
    """
    s = _NEWLINES.sub(" ", str(text))
    if not s:
        return ""
    # Streamlit rewrites ':material/' in the source before parsing, inside code spans too
    s = s.replace(":material/", ":" + JOINER + "material/")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def html_text(text: object) -> str:
    """``text`` escaped for any Plotly text (titles, axes, tick labels, hover, legend,
    annotations), so that it shows as written.

    ``&``, ``<`` and ``>`` become entities, which Plotly decodes only after it has looked for
    tags (quotes stay: without a tag they mean nothing, and Plotly does not know ``&quot;``);
    ``%`` and ``$`` become numeric entities, so that a value is never read as a hover-template
    placeholder (``%{x}``) or as LaTeX; line breaks become spaces.

    >>> html_text('<a href="u">x</a> 5%{y} $1$')
    '&lt;a href="u"&gt;x&lt;/a&gt; 5&#37;{y} &#36;1&#36;'
    """
    s = html.escape(_NEWLINES.sub(" ", str(text)), quote=False)
    return s.replace("%", "&#37;").replace("$", "&#36;")
