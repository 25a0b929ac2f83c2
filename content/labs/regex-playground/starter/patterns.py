"""Regex exercises: complete the three functions, then run `python3 patterns.py`."""
import re
from pathlib import Path

DATE = re.compile(r"")      # TODO: match YYYY-MM-DD with three groups
ERROR_LINE = re.compile(r"")  # TODO: match a whole ERROR line (use re.MULTILINE)
PRICE = re.compile(r"")     # TODO: $ then digits, optionally . and exactly two digits


def find_dates(text):
    """Return a list of (year, month, day) string tuples found in text."""
    # Hint: DATE.findall returns tuples when the pattern has several groups.
    raise NotImplementedError


def find_errors(log_text):
    """Return the message part of every ERROR line, e.g. "timeout after 30s"."""
    raise NotImplementedError


def is_price(s):
    """True if the whole string is a price such as "$4.99" or "$120"."""
    # Hint: re.fullmatch anchors the pattern at both ends.
    raise NotImplementedError


if __name__ == "__main__":
    assert find_dates("due 2025-03-14 and 2025-04-02") == [("2025", "03", "14"), ("2025", "04", "02")]
    assert find_dates("no dates here") == []
    log = Path(__file__).with_name("sample-log.txt").read_text()
    assert find_errors(log) == ["lesson 'loops' not found", "timeout after 30s"]
    for good in ["$4.99", "$120", "$0.50"]:
        assert is_price(good), good
    for bad in ["4.99", "$.5", "$4.9", "$4.999", "price: $4.99"]:
        assert not is_price(bad), bad
    print("all checks passed")
