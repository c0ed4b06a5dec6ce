"""Words, patterns and tokenisation shared by the text query generator and its table reader."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "BREAKDOWN",
    "CAPTION",
    "CAUSE",
    "CHANGE_VERBS",
    "COUNTED_AFTER",
    "DONE_VERBS",
    "DUE",
    "EN_STOPWORDS",
    "GENERIC",
    "MONEY",
    "MONTHS",
    "NUMBERING",
    "PAGE_NUMBER",
    "PAREN",
    "PLACE",
    "RESPONSIBLE",
    "ROLE",
    "ROLES",
    "RULE",
    "SEGMENT_SPLIT",
    "SENTENCE_SPLIT",
    "STOPWORDS",
    "TOKEN",
    "TOP_ROLES",
    "TREND",
    "VERBISH",
    "YEAR",
    "content_words",
    "is_content",
    "is_english",
    "is_number",
    "line_signature",
    "runs",
    "tokens",
    "unwrap",
]

EN_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each either few for
    from further had has have having he her here hers him his how i if in into is it its itself just
    may me might more most must my neither no nor not now of off on once only or other our ours out
    over own per same shall she should so some such than that the their theirs them then there these
    they this those through thus to too under until up upon very via was we were what when where
    whether which while who whom whose why will with within without would yet you your yours""".split()  # noqa: SIM905
)
# Function words of other common languages, so runs of content words split there too.
STOPWORDS = EN_STOPWORDS | frozenset(
    """der die das den dem des ein eine einer eines einem einen und oder aber nicht mit von zu im am
    auf aus bei für fur über uber unter vor nach ist sind war wurde wurden werden hat haben wird als
    auch wie sich es sie er wir ihr dass daß zum zur le la les un une du de et ou mais pour par sur
    dans avec sans est sont été au aux ce cette ces qui que qu il elle ils elles nous vous se sa son
    ses leur leurs en y el los las del al con sin por para fue una unos unas lo su sus como más pero
    o e gli della delle dei degli nel nella tra fra è sono het een van op te met voor niet zijn werd
    worden dat deze dit os um uma do da dos das na nos nas em com é são""".split()  # noqa: SIM905
)
# Words that carry no topic on their own: never the subject of a query.
GENERIC = frozenset(
    """page pages section sections chapter part parts note notes figure fig table tables item items
    appendix detail details information example examples following various general number numbers
    key see use used using new one two three four five six seven eight nine ten first second third
    unit units total value values data year years list overview summary introduction contents
    routine unrelated filler text line lines other others etc million billion thousand percent eur
    usd gbp report reports annual figure figures indicator indicators summary""".split()  # noqa: SIM905
)
VERBISH = frozenset(
    """rose rise rises risen fell fall falls fallen grew grow grows grown increased increase increases
    decreased decrease decreases declined decline declines dropped drop drops reached reach reaches
    explains explain describes describe shows show includes include contains contain provides
    provide covers cover lists list remains remained became become make makes made gives give gave
    takes take took reported reports says said doubled noted note notes stated states completed
    opened founded launched started built held met expects expected expect forecast forecasts plans
    planned""".split()  # noqa: SIM905
)
CHANGE_VERBS = {
    "rose": "rise", "risen": "rise", "rises": "rise", "grew": "grow", "grown": "grow", "grows": "grow",
    "increased": "increase", "increases": "increase", "fell": "fall", "fallen": "fall", "falls": "fall",
    "decreased": "decrease", "decreases": "decrease", "declined": "decline", "declines": "decline",
    "dropped": "drop", "drops": "drop", "doubled": "double", "improved": "improve", "narrowed": "narrow",
}  # fmt: skip
DONE_VERBS = frozenset(
    """completed opened founded established launched started built finished introduced""".split()  # noqa: SIM905
)
MONTHS = frozenset(
    """january february march april may june july august september october november december""".split()  # noqa: SIM905
)
ROLES = (
    r"(?:chief executive|chief financial officer|chief operating officer|ceo|cfo|coo|chair(?:man|woman|person)?"
    r"|vice chair|president|(?:[a-z]+ ){0,2}(?:director|manager|officer|head|lead|coordinator|supervisor))"
)
TOP_ROLES = frozenset({
    "chief executive", "chief financial officer", "chief operating officer", "ceo", "cfo", "coo", "chair",
    "chairman", "chairwoman", "chairperson", "vice chair", "president",
})  # fmt: skip
# The role in any case, the person's name capitalised ("head" alone is no role: "arrowhead at head").
ROLE = re.compile(rf"\b((?i:{ROLES}))\b,?\s+([A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+){{1,2}})")
PLACE = re.compile(r"\b(headquartered|based|located|situated)\s+in\b", re.IGNORECASE)
RESPONSIBLE = re.compile(
    r"\b(?:responsible|in charge|handled by|handles|contact|overseen by|oversees)\b", re.I
)
CAUSE = re.compile(r"\b(?:driven by|due to|because|thanks to|owing to|as a result of|caused by)\b", re.I)
RULE = frozenset(
    ["must", "required", "shall", "prohibited", "mandatory", "permitted", "forbidden", "obliged"]
)
DUE = frozenset(["deadline", "due", "scheduled", "planned", "expected"])
MONEY = frozenset(
    ["$", "€", "£", "¥", "usd", "eur", "gbp", "dollars", "euros", "pounds", "million", "billion"]
)
COUNTED_AFTER = frozenset(
    """note section chapter figure fig table page item step no nr number part appendix of""".split()  # noqa: SIM905
)

TOKEN = re.compile(r"[$€£¥]|\d+(?:[.,:/]\d+)*%?|[^\W\d_](?:[\w'’\-]*[^\W_])?", re.UNICODE)
YEAR = re.compile(r"^(?:19|20)\d\d$")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
SEGMENT_SPLIT = re.compile(r"[\n;:,!?()\[\]\"“”•|]|\.(?=\s|$)|\s[-–—]\s")
CAPTION = re.compile(
    r"^\s*(figure|fig\.?|chart|graph|diagram|exhibit|plot|map|photo|image|table)\s*[\dIVXivx]*[a-z]?[.:)\-–—]*\s+(.+)$",
    re.IGNORECASE,
)
BREAKDOWN = re.compile(
    r"^(?P<what>[^,()]{3,60}?)\s+by\s+(?P<by>[^,()]{3,40}?)(?:\s*,\s*(?P<when>(?:19|20)\d\d))?\s*(?:\(.*\))?$",
    re.I,
)
TREND = re.compile(
    r"^(?P<what>[^,()]{3,60}?)\s*,\s*(?P<start>(?:19|20)\d\d)\s*[-–]\s*(?P<end>(?:19|20)\d\d)\s*(?:\(.*\))?$"
)
NUMBERING = re.compile(
    r"^\s*(?:(?:section|chapter|part|appendix)\s+)?[\dIVXivx]+(?:\.\d+)*[.):\-–—]?\s+", re.I
)
PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?\s*$", re.IGNORECASE)
PAREN = re.compile(r"\s*\([^)]*\)")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def is_number(tok: str) -> bool:
    return tok[0].isdigit()


def is_content(tok: str) -> bool:
    low = tok.lower()
    return not is_number(tok) and low not in STOPWORDS and (len(low) > 2 or any(c.isdigit() for c in low))


def content_words(text: str, limit: int) -> list[str]:
    return [t.lower() for t in tokens(text) if is_content(t) and t.lower() not in GENERIC][:limit]


def line_signature(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def unwrap(lines: list[str]) -> list[str]:
    """Join prose lines a text layer wrapped mid-sentence (a long line, then one starting in lower case)."""
    out: list[str] = []
    for line in lines:
        if out and len(out[-1]) >= 40 and out[-1][-1] not in ".:;!?" and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def runs(text: str) -> Iterable[list[str]]:
    """Runs of consecutive content words, broken at stopwords, numbers and punctuation."""
    for segment in SEGMENT_SPLIT.split(text):
        run: list[str] = []
        for tok in tokens(segment):
            if is_content(tok):
                run.append(tok.lower())
            else:
                if run:
                    yield run
                run = []
        if run:
            yield run


def is_english(text: str) -> bool:
    toks = [t.lower() for t in tokens(text) if not is_number(t)]
    if len(toks) < 12:
        return True  # too little text to tell; templates are harmless on a few words
    return sum(t in EN_STOPWORDS for t in toks) / len(toks) >= 0.15
