"""IAM's wildcard match, one for every policy the local AWS judges (event bus policies,
stack policies) and for the IAM review of the templates (iam_review.py): `*` matches any
run of characters, `?` any one, and nothing else is special ("IAM JSON policy elements:
Condition operators", String condition operators: StringLike "can include a multi-character
match wildcard (*) and a single-character match wildcard (?) anywhere in the string"),
unlike fnmatch, whose `[...]` is a character class."""

from __future__ import annotations

import re


def wildcard(pattern: str, value: str, case: bool = True) -> bool:
    """Whether `value` matches `pattern` (`case`: case-sensitive, as condition values are;
    action names are not)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL | (0 if case else re.IGNORECASE)) is not None
