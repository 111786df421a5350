"""CloudWatch Logs filter patterns for unstructured events: the term patterns FilterLogEvents takes
(docs/api.md, CloudWatch Logs).

As AWS documents them: terms are matched case-sensitively anywhere in the message; every plain term must
match (`ERROR timeout`), at least one of the `?` terms must (`?ERROR ?WARN`), no `-` term may
(`ERROR -retrying`); a term in double quotes may hold spaces and punctuation (`"Exit code 1"`), and
`%...%` is a regular expression. JSON (`{ $.level = ... }`) and space-delimited (`[ip, user, ...]`)
patterns are refused with a message saying so, rather than matching something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from batchd.errors import InvalidParameter


@dataclass(frozen=True)
class FilterPattern:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return (
            all(term in message for term in self.required)
            and (not self.optional or any(term in message for term in self.optional))
            and not any(term in message for term in self.excluded)
        )


MATCH_ALL = FilterPattern()

# A term: an optional ? or - marker, then a quoted phrase (with \" inside) or a run of non-spaces.
_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def parse_filter_pattern(pattern: str | None) -> FilterPattern:
    text = (pattern or "").strip()
    if not text:
        return MATCH_ALL
    if text[0] in "{[":
        kind = "JSON" if text[0] == "{" else "space-delimited"
        raise InvalidParameter(
            f"filterPattern {pattern!r} is a {kind} pattern: batchd matches term patterns only "
            '(ERROR, "exact phrase", ?either ?or, -excluded) and %regular expressions%.'
        )
    if len(text) >= 2 and text[0] == "%" and text[-1] == "%":
        try:
            return FilterPattern(regex=re.compile(text[1:-1]))
        except re.error as exc:
            raise InvalidParameter(
                f"filterPattern {pattern!r} is not a valid regular expression: {exc}."
            ) from None
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    position = 0
    while position < len(text):
        found = _TERM.match(text, position)
        if found is None or found.end() == position:
            raise InvalidParameter(f"filterPattern {pattern!r} cannot be read at character {position + 1}.")
        marker, quoted, bare = found.groups()
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        if not term:
            raise InvalidParameter(f"filterPattern {pattern!r} holds an empty term.")
        {"": required, "?": optional, "-": excluded}[marker].append(term)
        position = found.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return FilterPattern(tuple(required), tuple(optional), tuple(excluded))
