"""The prompt vision-language generators (openai, local) send with each page image.

Modelled on the recipe behind the LlamaIndex VDR training data: specific and general questions, in
the language of the page, never pointing at "this document" or "this page".
"""

from __future__ import annotations

__all__ = ["query_prompt", "split_specific_general"]

_PROMPT = """You help build a search engine over document pages. Look at the page image and write the \
search queries people would type to find this page among thousands of others.

{asks}

Rules:
- Write in the same language as the text on the page.
- Never refer to the page, document, image, figure, chart or table as such: no "this document", \
"the page", "in the chart above". Each query must make sense on its own in a search box.
- Paraphrase: do not copy sentences from the page. Keep each query under 25 words.
- If the page has no readable content, return empty lists.

Answer with JSON only, no other text:
{{"specific": ["..."], "general": ["..."]}}"""


def split_specific_general(n: int) -> tuple[int, int]:
    """`n` queries as (specific, general): one of each for n=2, specific first when odd."""
    n = max(1, n)
    return (n + 1) // 2, n // 2


def query_prompt(per_page: int) -> str:
    """The instruction for `per_page` queries of one page."""
    n_specific, n_general = split_specific_general(per_page)
    asks = [
        f"Write {n_specific} specific {_noun(n_specific)}: about a precise detail only this page answers "
        "(a figure, a name, a date, a value in a table or chart, a defined term)."
    ]
    if n_general:
        asks.append(
            f"Write {n_general} general {_noun(n_general)}: about the broader topic of the page, as someone "
            "exploring the subject would ask."
        )
    return _PROMPT.format(asks="\n".join(asks))


def _noun(n: int) -> str:
    return "query" if n == 1 else "queries"
