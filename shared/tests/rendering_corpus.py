"""Texts built to make the renderer amplify or stall, at the contract's length limits.

Shared by the bound tests (shared/tests/test_rendering_bounds.py) and the timing
script (scripts/measure_rendering.py). Each entry is the worst of its kind found so
far: a table whose empty cells fill 200 columns, a long link target repeated by
reference, nesting as deep as the text allows, runs of delimiters.
"""

DESCRIPTION_LIMIT = 2000
MESSAGE_LIMIT = 5000
_URL = "https://example.com/" + "a" * 900


def _fill(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def _table(columns: int, length: int, align: str = "-") -> str:
    head = "|" + "a|" * columns + "\n|" + f"{align}|" * columns + "\n"
    return (head + "a\n" * length)[:length]


def corpus(length: int) -> dict[str, str]:
    """The adversarial texts, each ``length`` characters long (or about)."""
    return {
        # The case: 200 columns, then one-character rows of empty cells.
        "table_wide": _table(200, length),
        "table_at_column_cap": _table(20, length),
        "table_aligned": _table(300, length, ":-:"),
        "table_aligned_at_cap": _table(20, length, ":-:"),
        "tables_many": _fill("|a|b|\n|-|-|\n|1|2|\n\n", length),
        "quotes_deep": ">" * (length - 1) + "x",
        "quotes_nested_blocks": _fill(">" * 30 + "x\n\n", length),
        "quotes_nested_8": _fill(">" * 8 + "x\n\n", length),
        "quotes_nested_14": _fill(">" * 14 + "x\n\n", length),
        "lists_deep": ("- " * length)[: length - 1] + "x",
        "lists_nested_blocks": _fill("- " * 30 + "x\n\n", length),
        "lists_nested_7": _fill("- " * 7 + "x\n\n", length),
        "quote_list_mix": _fill(">- " * 20 + "x\n\n", length),
        "empty_items": _fill("-\n", length),
        "empty_ordered_items": _fill("1.\n", length),
        "reference_links": ("[a]: " + _URL + "\n\n" + "[a]" * length)[:length],
        "reference_images": ("[a]: " + _URL + ' "' + "t" * 50 + '"\n\n' + "![a]" * length)[:length],
        "links_empty": _fill("[]()", length),
        "list_of_links": _fill("- []()\n", length),
        "images_empty": _fill("![]()", length),
        "email_autolinks": _fill("<a@b>", length),
        "autolinks": _fill("<ab:c>", length),
        "brackets_open": "[" * length,
        "brackets_nested": "[" * (length // 2) + "]" * (length // 2),
        "link_destinations_open": _fill("[a](<", length),
        "link_titles": _fill('[a](b "' + '"' * 20 + '")', length),
        "angle_brackets": "<" * length,
        "ampersands": "&" * length,
        "named_entities": _fill("&quot;", length),
        "numeric_entities": _fill("&#x10FFFF;", length),
        # Ticket numbers become links: the shortest ones, and the longest, back to back.
        "ticket_numbers": _fill("#1 ", length),
        "ticket_numbers_long": _fill("#999999999999999999 ", length),
        "ticket_numbers_in_lists": _fill("- #1\n", length),
        "emphasis_runs": _fill("*a ", length),
        "emphasis_mixed": _fill("*_", length),
        "emphasis_nested": "*" * (length // 2) + "a" + "*" * (length // 2 - 1),
        "emphasis_pairs": _fill("**__", length),
        "strikethrough_runs": _fill("~~a ", length),
        "backticks": "`" * length,
        "backtick_runs": "".join("`" * i + "a" for i in range(1, 100))[:length],
        "headings": _fill("#\n", length),
        "setext_headings": _fill("a\n=\n", length),
        "rules": _fill("-\n\n***\n", length),
        "line_breaks": _fill("a\n", length),
        "newlines": "\n" * length,
        "code_fences": _fill("```\n", length),
        "indented_code": _fill("    a\n", length),
        "escapes": _fill("\\*", length),
    }


def every_text() -> list[tuple[str, str]]:
    """(name, text) at both limits: the description's and the message's."""
    return [
        (f"{name}@{limit}", text)
        for limit in (DESCRIPTION_LIMIT, MESSAGE_LIMIT)
        for name, text in corpus(limit).items()
    ]
