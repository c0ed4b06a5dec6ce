"""`--generate text`: offline synthetic queries from each page's text layer or OCR.

Several kinds of queries per page, shaped like what people type into a search box, plus crops of the
page's running text:

- ``keyword``: the page's most informative terms (rare in the corpus, frequent on the page), alone or
  with the words that name its document;
- ``question``: a question about one sentence, its template picked by what the sentence holds (a change,
  an amount, a year, a person in a role, a place, a completion date, a rule, a definition); the answer
  (the number, the name) is left out, as in a real question;
- ``heading``: a section heading reduced to its content words, with document context;
- ``table``: a fact from a table: row label x column header (rows on one line, as OCR reads them, or
  one cell per line, as PDF text layers often store them);
- ``caption``: what a figure/table title describes: "X by Y, 2021" becomes "which Y had the highest X
  in 2021?", "X, 2017-2021" a question about its trend, other captions "chart showing ...".
- ``span``: on top of those, `spans_per_page` crops of the page's own running text (6 to 12 words of
  its body, never of a running header): the random cropping unsupervised dense retrievers train on
  (Contriever). The only kind allowed to copy the page; on real pages it is what teaches the model
  the long, natural queries users type (measured on ../shared/devset: see `TextQueryGenerator`).

Documents are named in queries the way people do: by the words of their running header or title
(e.g. the organisation) and their year, found from the corpus itself. No query but a span repeats more
than `max_copied_words` consecutive words of its page. Question templates are English; pages in other
languages get the language-neutral kinds (keyword, heading, table terms).
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, ClassVar

from pagefit.querygen._base import GeneratedQuery, GenerationResult, Page
from pagefit.querygen._lexicon import (
    BREAKDOWN,
    CAPTION,
    CAUSE,
    CHANGE_VERBS,
    COUNTED_AFTER,
    DONE_VERBS,
    DUE,
    GENERIC,
    MONEY,
    MONTHS,
    NUMBERING,
    PAGE_NUMBER,
    PAREN,
    PLACE,
    RESPONSIBLE,
    ROLE,
    RULE,
    SENTENCE_SPLIT,
    STOPWORDS,
    TOP_ROLES,
    TREND,
    VERBISH,
    YEAR,
    content_words,
    is_content,
    is_english,
    is_number,
    line_signature,
    runs,
    tokens,
    unwrap,
)
from pagefit.querygen._tables import Table, chart_zone, find_tables, looks_like_names
from pagefit.querygen.filters import words

__all__ = [
    "COPYING_KINDS",
    "COPY_KINDS",
    "KINDS",
    "SPAN",
    "TextQueryGenerator",
    "span_queries",
    "well_formed_question",
]

logger = logging.getLogger(__name__)

KINDS = ("question", "keyword", "table", "caption", "heading")
SPAN = "span"  # the crops of running text, made on top of the `KINDS` (see `TextQueryGenerator`)
COPYING_KINDS = frozenset({SPAN})  # the kinds exempt from `max_copied_words`
COPY_KINDS = frozenset({SPAN, "keyword"})  # what BM25 matches by construction: kept out of held-out splits

# ---------------------------------------------------------------------------------------------
# Corpus statistics and document context
# ---------------------------------------------------------------------------------------------


@dataclass
class _CorpusStats:
    """Page frequencies of terms across the corpus and within each document."""

    n_pages: int
    df: Counter[str]
    doc_df: dict[str, Counter[str]]
    doc_pages: Counter[str]
    boilerplate: dict[str, set[str]]  # line signatures repeated on most pages of a document
    running: dict[str, list[str]] = field(default_factory=dict)  # those lines, as written
    contexts: dict[str, tuple[list[str], str | None]] = field(default_factory=dict)

    def idf(self, term: str) -> float:
        return math.log((self.n_pages + 1) / (self.df.get(term, 0) + 0.5))

    def doc_share(self, doc_id: str, term: str) -> float:
        """Fraction of the document's pages that contain `term`."""
        return self.doc_df[doc_id].get(term, 0) / max(1, self.doc_pages[doc_id])


def _corpus_stats(pages: Sequence[Page]) -> _CorpusStats:
    df: Counter[str] = Counter()
    doc_df: dict[str, Counter[str]] = defaultdict(Counter)
    doc_pages: Counter[str] = Counter()
    line_counts: dict[str, Counter[str]] = defaultdict(Counter)
    first_seen: dict[str, dict[str, str]] = defaultdict(dict)
    for page in pages:
        terms = {t.lower() for t in tokens(page.text) if is_content(t)}
        df.update(terms)
        doc_df[page.doc_id].update(terms)
        doc_pages[page.doc_id] += 1
        sigs = {}
        for line in page.text.splitlines():
            if line.strip():
                sigs.setdefault(line_signature(line), line.strip())
        line_counts[page.doc_id].update(sigs.keys())
        for sig, line in sigs.items():
            first_seen[page.doc_id].setdefault(sig, line)
    boilerplate = {
        doc: {
            sig
            for sig, n in counts.items()
            if doc_pages[doc] >= 3 and n >= max(2, 0.6 * doc_pages[doc]) and len(content_words(sig, 2)) >= 1
        }
        for doc, counts in line_counts.items()
    }
    running = {doc: [first_seen[doc][s] for s in sorted(sigs)] for doc, sigs in boilerplate.items()}
    stats = _CorpusStats(len(pages), df, dict(doc_df), doc_pages, boilerplate, running)
    stats.contexts = _doc_contexts(pages, stats)
    return stats


def _doc_contexts(pages: Sequence[Page], stats: _CorpusStats) -> dict[str, tuple[list[str], str | None]]:
    """The words (<= 2) and year people would add to a query to name each document.

    Taken from its running header/footer (lines repeated on most of its pages) or, for short
    documents, the first line of its first page; only words rare outside the document are kept.
    """
    first: dict[str, Page] = {}
    for page in pages:
        if page.doc_id not in first or page.page_number < first[page.doc_id].page_number:
            first[page.doc_id] = page
    contexts = {}
    for doc, page in first.items():
        lines = stats.running.get(doc) or [x for x in page.text.splitlines() if x.strip()][:1]
        toks = [t for line in lines for t in tokens(line)]
        years = Counter(t for t in toks if YEAR.match(t))
        n = stats.doc_pages[doc]
        candidates = list(
            dict.fromkeys(
                t.lower()
                for t in toks
                if is_content(t) and t.lower() not in GENERIC and "'" not in t and "’" not in t
            )
        )
        # A naming word is on (nearly) every page of the document and on few pages of other documents.
        naming = [
            t
            for t in candidates
            if stats.df[t] - stats.doc_df[doc].get(t, 0) < max(2, 0.5 * (stats.n_pages - n))
        ]
        contexts[doc] = ((naming or candidates)[:2], years.most_common(1)[0][0] if years else None)
    return contexts


# ---------------------------------------------------------------------------------------------
# Phrases
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]  # lower case
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _usable(gram: tuple[str, ...]) -> bool:
    return (
        len(set(gram)) == len(gram)
        and gram[0] not in GENERIC
        and gram[-1] not in GENERIC
        and not gram[-1].endswith("ly")
        and not (gram[-1].endswith("ed") and len(gram[-1]) > 5)
        and VERBISH.isdisjoint(gram)
    )


def _phrases(text: str, stats: _CorpusStats, doc_id: str, max_len: int = 3) -> list[_Phrase]:
    """Candidate subject phrases of a text, best first: rare in the corpus, specific to this page."""
    counts: Counter[tuple[str, ...]] = Counter()
    for run in runs(text):
        for n in range(1, max_len + 1):
            counts.update(g for i in range(len(run) - n + 1) if _usable(g := tuple(run[i : i + n])))
    many_pages = stats.doc_pages[doc_id] > 2
    phrases = []
    for gram, tf in counts.items():
        idf = sum(stats.idf(w) for w in gram) / len(gram)
        # A term on every page of its document names the document, not the page.
        specific = 1.0 - 0.5 * max(stats.doc_share(doc_id, w) for w in gram) if many_pages else 1.0
        phrases.append(
            _Phrase(gram, idf * specific * (1 + 0.3 * (len(gram) - 1)) * (1 + 0.25 * math.log(tf)))
        )
    phrases.sort(key=lambda p: (-p.score, p.text))
    return phrases


def _distinct(phrases: Iterable[_Phrase], k: int, avoid: Iterable[str] = ()) -> list[_Phrase]:
    """The best `k` phrases sharing no word (with each other or with `avoid`)."""
    chosen: list[_Phrase] = []
    used: set[str] = set(avoid)
    for p in phrases:
        if used.isdisjoint(p.words):
            chosen.append(p)
            used.update(p.words)
            if len(chosen) == k:
                break
    return chosen


@dataclass
class _PageView:
    """One page, cleaned of running headers, with what every query builder needs."""

    page: Page
    lines: list[str]
    english: bool
    phrases: list[_Phrase]
    context: list[str]  # words naming the document
    year: str | None  # the document's year
    rng: random.Random

    def owner(self, subject: str) -> str:
        """`subject` attributed to the document ("acme corp's revenue"), unless it already names it or
        the document's name words cannot take a possessive (one already has one: "user's")."""
        if not self.context or set(self.context) & set(subject.split()) or not _nameable(self.context):
            return subject
        name = " ".join(self.context)
        if not self.english:
            return f"{name} {subject}"
        return f"{name}' {subject}" if name.endswith("s") else f"{name}'s {subject}"

    def named(self, text: str) -> str:
        """Document words put in front of a keyword-style query, unless already there."""
        missing = [w for w in self.context if w not in text.split()]
        return " ".join([*missing, text])

    def in_year(self, text: str) -> str:
        """`text` + " in <document year>" when the query has no year yet."""
        return text if not self.year or re.search(r"\b(?:19|20)\d\d\b", text) else f"{text} in {self.year}"


def _nameable(context: list[str]) -> bool:
    """Document name words that read as a name: letters/digits only, no possessive of their own."""
    return all(re.fullmatch(r"[^\W_][\w\-.]*", w) and w not in STOPWORDS for w in context)


# ---------------------------------------------------------------------------------------------
# Query builders, one per kind; each returns (score, text) candidates
# ---------------------------------------------------------------------------------------------


def _informative(phrases: Iterable[_Phrase], stats: _CorpusStats) -> list[_Phrase]:
    """Phrases whose every word is absent from most pages: those tell pages apart."""
    limit = 0.5 * stats.n_pages if stats.n_pages >= 4 else stats.n_pages
    return [p for p in phrases if len(p.words) <= 2 and all(stats.df[w] <= limit for w in p.words)]


def _keyword_queries(view: _PageView, stats: _CorpusStats) -> list[tuple[float, str]]:
    best = _distinct(_informative(view.phrases, stats), 4, avoid=view.context)
    out = []
    if best:
        out.append((best[0].score + 1.0, view.named(best[0].text)))
    if len(best) >= 2:
        out.append((best[0].score + best[1].score, f"{best[0].text} {best[1].text}"))
    if len(best) >= 3:
        out.append((best[2].score, view.named(best[2].text)))
    if len(best) >= 4 and best[2].score + best[3].score >= 0.5 * (best[0].score + best[1].score):
        out.append((best[2].score + best[3].score - 1.0, f"{best[3].text} {best[2].text}"))
    return out


_CUE_WORDS = DUE | RULE | MONEY | frozenset(CHANGE_VERBS) | DONE_VERBS
# An amount of money: a currency sign before a number, or a number with a currency/scale word.
_MONEY_AMOUNT = re.compile(
    r"[$€£¥]\s?\d|\d\s?(?:[$€£¥]|(?:usd|eur|gbp|dollars|euros|pounds|million|billion)\b)", re.I
)
_COST_OF = re.compile(
    r"\b(?:at a (?:total )?cost of|cost(?:s|ing)? (?:of )?[$€£¥]|spent|spend(?:ing)? of)\b", re.I
)


def _subject(text: str, view: _PageView, stats: _CorpusStats, exclude: Iterable[str] = ()) -> _Phrase | None:
    """The most informative phrase of `text` that is no cue word, widened to the page's longer phrase."""
    banned = _CUE_WORDS | set(exclude) | set(view.context)
    phrases = [p for p in _phrases(text, stats, view.page.doc_id) if banned.isdisjoint(p.words)]
    if not phrases:
        return None
    best = phrases[0]
    if len(best.words) == 1:
        wider = next((p for p in view.phrases[:12] if len(p.words) > 1 and best.words[0] in p.words
                      and banned.isdisjoint(p.words)), None)  # fmt: skip
        best = wider or best
    return best


def _amounts(toks: list[str]) -> list[str]:
    """Numbers that are quantities: not years, not the number of a note, section or page."""
    return [
        t for k, t in enumerate(toks)
        if is_number(t) and not YEAR.match(t) and not (k and toks[k - 1].lower() in COUNTED_AFTER)
    ]  # fmt: skip


def _counted_noun(toks: list[str]) -> str | None:
    """What a sentence counts: "served 95,022 customers" -> customers, "42 hours of training" -> hours of
    training (units such as GWh, written with capitals, excluded)."""
    amounts = set(_amounts(toks))
    for k, t in enumerate(toks[:-1]):
        if t not in amounts or t.endswith("%"):
            continue
        run = []
        for nxt in toks[k + 1 : k + 4]:
            if not (is_content(nxt) and nxt.islower() and nxt not in GENERIC and nxt not in VERBISH) or (
                nxt.endswith("ed") and len(nxt) > 4
            ):
                break
            run.append(nxt)
        if run:
            rest = toks[k + 1 + len(run) :]
            if len(rest) >= 2 and rest[0] == "of" and is_content(rest[1]) and rest[1].islower():
                run += ["of", rest[1]]
            return " ".join(run)
    return None


def _role_question(sentence: str, view: _PageView, stats: _CorpusStats) -> tuple[float, str] | None:
    """ "who is the project director for the X?" when the sentence names X before the role, else the
    organisation's role ("who is acme's chief financial officer?")."""
    m = ROLE.search(sentence)
    if not m:
        return None
    role_words = m.group(1).lower().split()
    while role_words and (role_words[0] in STOPWORDS or role_words[0] in GENERIC):
        role_words.pop(0)
    role = " ".join(role_words)
    before = sentence[: m.start()]
    subject = _subject(before, view, stats, exclude=role_words) if role not in TOP_ROLES else None
    if subject is not None:
        return 3.0 + subject.score, f"who is the {role} for {subject.text}?"
    return 3.0, f"who is {view.owner(role)}?"


# Code names in technical documents: `hurdle()`, `\\BodeZPK`, `rankdir=LR`, `--verbose`, `data.table`,
# `max_iter`, `nodeColor`.
_IDENT = re.compile(
    r"(?<![\w\\])(\\[A-Za-z]{3,}|[A-Za-z][\w.]*\(\)|--?[a-z][\w-]{2,}|[a-z]+[_.][a-z][\w.]*[a-z\d]"
    r"|[a-z]+[A-Z][A-Za-z]+)(?![\w(])"
)
_KIND_NOUN = r"(?:macro|function|command|option|argument|attribute|parameter|environment|package|method|key)"
_DOES = re.compile(rf"^(?:the\s+)?(?P<ident>\S+)\s+(?:{_KIND_NOUN}\s+)?(?:also\s+)?(?P<verb>[a-z]{{3,}}s)\b")
_DEFAULT = re.compile(
    r"\bdefault(?:\s+value)?\s+(?:of|for)\s+(?:the\s+)?(?P<what>[\w\\.\-]+(?:\s+[a-z][\w\-]*){0,2}?)\s+(?:is|are)\b"
    r"|(?P<what2>[\w\\.\-]+)\s+defaults\s+to\b",
    re.I,
)
_PURPOSE = re.compile(r"^(?:In order to|To)\s+(?P<clause>[a-z]+(?:\s+[\w\-]+){0,5}?)\s*,", re.I)
_CONDITION = re.compile(r"^(?:If|When)\s+(?P<clause>[\w\-]+(?:\s+[\w\-]+){1,6}?)\s*,")
_DETERMINERS = frozenset("the a an this that these those its their each every any of for".split())  # noqa: SIM905
_PRONOUNS = frozenset("this that these those it they there none some all both either neither".split())  # noqa: SIM905
_BAD_END = STOPWORDS | frozenset("is are was were be been do does did can could will would".split())  # noqa: SIM905


def _nounish(phrase: str, sentence: str) -> bool:
    """Whether `phrase` (content words) reads as a noun phrase in `sentence`: it follows a determiner
    or a preposition there (or starts it) and does not end like a verb, adverb or participle."""
    words_ = phrase.split()
    last = words_[-1]
    if last in VERBISH or last.endswith(("ing", "ly")) or (last.endswith("ed") and len(last) > 4):
        return False
    m = re.search(rf"(?:^|(\w+)\s+){re.escape(words_[0])}\b", sentence.lower())
    return bool(m) and (m.group(1) is None or m.group(1) in _DETERMINERS)


def _agree(subject: str) -> str:
    """ "is" or "are" for a subject ending in a plural noun."""
    last = subject.split()[-1]
    return "are" if last.endswith("s") and not last.endswith(("ss", "us", "is", "ys")) else "is"


def _technical_question(sentence: str) -> tuple[float, str] | None:
    """Questions manuals answer: what a named function/macro/option does, its default, how to do
    what a "To ..., ..." sentence explains, what happens under an "If ..., ..." condition."""
    stripped = sentence.strip()
    if (m := _DEFAULT.search(stripped)) is not None:
        what = (m.group("what") or m.group("what2")).strip()
        if what.lower() not in _BAD_END and what.split()[-1].lower() not in _BAD_END:
            return 3.5, f"what is the default value of {what}?"
    if (
        (m := _DOES.match(stripped))
        and _IDENT.fullmatch(m.group("ident"))
        and m.group("verb") not in STOPWORDS
    ):
        return 3.5, f"what does {m.group('ident')} do?"
    if (m := _PURPOSE.match(stripped)) is not None:
        clause = m.group("clause").split()
        while clause and clause[-1].lower() in _BAD_END:
            clause.pop()
        if (
            len(clause) >= 2
            and clause[0].lower() not in STOPWORDS
            and not clause[0].endswith(("ing", "ed", "s"))
            and _PRONOUNS.isdisjoint(w.lower() for w in clause)
        ):
            return 3.0, f"how do I {' '.join(clause)}?"
    if (m := _CONDITION.match(stripped)) is not None:
        clause = m.group("clause").split()
        finite = {"is", "are", "was", "were", "has", "have", "does", "do"}
        if (
            clause[-1].lower() not in _BAD_END
            and clause[0].lower() not in _PRONOUNS
            and any(w in finite or (w.endswith("ed") and len(w) > 4) for w in clause[1:])
        ):
            return 2.5, f"what happens when {' '.join(clause)}?"
    return None


def _sentence_question(sentence: str, view: _PageView, stats: _CorpusStats) -> tuple[float, str] | None:
    """A question about one sentence; the template follows its cue, the answer stays out.

    Parentheses (citations such as "(Chambers and Hastie 1992)", asides) are left out first. Every
    template that names a subject phrase asks only when that phrase reads as a noun phrase.
    """
    sentence = PAREN.sub("", sentence)
    if (made := _technical_question(sentence)) is not None:
        return made
    toks = tokens(sentence)
    low = [t.lower() for t in toks]
    years = [t for t in toks if YEAR.match(t)]
    numbers = _amounts(toks)
    when = f" in {years[0]}" if years else ""
    if (made := _role_question(sentence, view, stats)) is not None:
        return made
    place = PLACE.search(sentence)
    who = _subject(sentence[: place.start()], view, stats) if place else None
    if place and who and _nounish(who.text, sentence):
        return 3.0, f"where is {who.text} {place.group(1).lower()}?"
    verb = next((t for t in low if t in CHANGE_VERBS), None)
    subject = _subject(
        sentence[: sentence.lower().find(verb)] if verb else sentence, view, stats
    ) or _subject(sentence, view, stats)
    if subject is None or not _nounish(subject.text, sentence):
        return None
    s = subject.text
    if verb and CAUSE.search(sentence):
        return 3.0 + subject.score, f"why did {s} {CHANGE_VERBS[verb]}{when}?"
    if verb and (numbers or years):
        return 3.0 + subject.score, f"how much did {s} {CHANGE_VERBS[verb]}{when}?"
    done = next((t for t in low if t in DONE_VERBS), None)
    if done and (years or any(t in MONTHS for t in low)):
        return 2.5 + subject.score, f"when was {s} {done}?"
    if numbers and _COST_OF.search(sentence):
        return 2.5 + subject.score, f"how much did {s} cost?"
    if numbers and _MONEY_AMOUNT.search(sentence):
        return 2.5 + subject.score, f"what was {view.in_year(view.owner(s) + when)}?"
    if RESPONSIBLE.search(sentence):
        return 2.0 + subject.score, f"who is responsible for {s}?"
    if any(t in DUE for t in low) and (years or any(t in MONTHS for t in low)):
        return 2.0 + subject.score, f"when is {s} due?"
    if any(t in RULE for t in low):
        return 2.0 + subject.score, f"what are the rules for {s}?"
    if re.match(
        rf"^\s*(?:the\s+|an?\s+)?{re.escape(s)}\s+(?:is|are|means|refers to)\s+(?:a|an|the)\b", sentence, re.I
    ):
        return 2.0 + subject.score, f"what {_agree(s)} {s}?"
    return None


def _question_queries(view: _PageView, stats: _CorpusStats) -> list[tuple[float, str]]:
    if not view.english:
        return []
    prose = [x for x in view.lines if len(tokens(x)) >= 6 and not CAPTION.match(x)]
    out = []
    for sentence in SENTENCE_SPLIT.split("\n".join(prose)):
        if len(tokens(sentence)) >= 4 and (made := _sentence_question(sentence, view, stats)) is not None:
            out.append(made)
    return out


def _heading_queries(view: _PageView, stats: _CorpusStats) -> list[tuple[float, str]]:
    """Section headings: numbered lines, the page's first line, Title Case or CAPITALISED short lines."""
    out = []
    axes = chart_zone(view.lines)
    in_table = False
    for i, line in enumerate(view.lines[:40]):
        toks = tokens(line)
        caption = CAPTION.match(line)
        in_table = bool(caption and caption.group(1).lower() == "table") or (in_table and len(toks) <= 12)
        if in_table:
            continue
        alpha = [t for t in toks if not is_number(t)]
        if not alpha or len(toks) > 10 or line.rstrip().endswith((".", ",", ";")) or CAPTION.match(line):
            continue
        if (
            sum(is_number(t) and not YEAR.match(t) for t in toks) >= 2
            or BREAKDOWN.match(line)
            or TREND.match(line)
        ):
            continue  # a table row or a chart title
        content = [t for t in alpha if is_content(t)]
        titled = sum(t[0].isupper() for t in content) / max(1, len(content))
        numbered = bool(NUMBERING.match(line)) and len(content) >= 1
        if not numbered and (
            i in axes
            or not (
                (i == 0 and len(content) >= 2) or (titled >= 0.75 and len(content) >= 2) or line.isupper()
            )
        ):
            continue
        body = [t.lower() for t in tokens(NUMBERING.sub("", line)) if is_content(t)][:5]
        while body and body[-1] in {"section", "chapter", "part", "page", "appendix"}:
            body.pop()
        if not body or all(w in view.context or w in GENERIC for w in body):
            continue
        score = (3.0 if numbered else 2.0) - 0.05 * i + sum(stats.idf(w) for w in body) / len(body)
        out.append((score, view.named(" ".join(body))))
        out.append((score - 1.0, " ".join(body)))
    return out


# -- tables ------------------------------------------------------------------------------------


def _table_question(table: Table, label: str, header: str, cells: list[str], view: _PageView) -> str:
    """A question one table cell answers: its row label x column header (+ the table's measure)."""
    label, col = PAREN.sub("", label).strip().lower(), PAREN.sub("", header).strip().lower()
    if YEAR.match(col) or re.fullmatch(r"q[1-4]|h[12]|[a-z]{3,9} (?:19|20)\d\d", col):
        year = f" {table.year}" if table.year and not YEAR.match(col) else ""
        if table.measure:  # "Revenue by region": rows are categories of the measure
            return f"what was {view.owner(table.measure)} for {label} in {col}{year}?"
        return f"what was {view.owner(label)} in {col}{year}?"  # rows are measures
    if all(YEAR.match(c.strip()) for c in cells):
        return f"in what year was {label} {col}?" if col.endswith("ed") else f"{label} {col} year"
    if looks_like_names(cells):
        return f"who is the {col} of {label}?"
    return f"what is {view.owner(label)} {col}?"


def _table_queries(view: _PageView, stats: _CorpusStats) -> list[tuple[float, str]]:
    out = []
    for table in find_tables(view.lines):
        cells = [(r, c) for r in range(len(table.labels)) for c in range(len(table.columns))]
        view.rng.shuffle(cells)
        for r, c in cells[:4]:
            label, (header, column) = table.labels[r], table.columns[c]
            score = 2.0 + sum(stats.idf(w) for w in content_words(label, 4) or ["?"]) / max(
                1, len(content_words(label, 4))
            )
            if view.english:
                out.append((score, _table_question(table, label, header, column, view)))
            else:
                out.append(
                    (
                        score,
                        view.named(
                            " ".join(
                                [*content_words(label, 4), *content_words(header, 2), table.measure]
                            ).strip()
                        ),
                    )
                )
    return out


# -- captions ----------------------------------------------------------------------------------


def _caption_queries(view: _PageView) -> list[tuple[float, str]]:
    """Questions about what a figure or table shows, from its title."""
    if not view.english:
        return []
    out = []
    for line in view.lines:
        if len(tokens(line)) > 14 or line.rstrip().endswith("."):
            continue
        m = CAPTION.match(line)
        title = PAREN.sub("", m.group(2) if m else line).strip()
        if (b := BREAKDOWN.match(title)) and content_words(b["what"], 5):
            what, by = " ".join(content_words(b["what"], 5)), " ".join(content_words(b["by"], 3))
            year = f" in {b['when']}" if b["when"] else (f" in {view.year}" if view.year else "")
            if by:
                of = f" of {' '.join(view.context)}" if view.context else ""
                out.append((4.0, f"which {by.split()[0]}{of} had the highest {what}{year}?"))
                out.append((3.0, view.named(f"{what} by {by}{year.replace(' in', '')}")))
        elif (t := TREND.match(title)) and content_words(t["what"], 5):
            what = " ".join(content_words(t["what"], 5))
            out.append((3.5, f"how did {view.owner(what)} change from {t['start']} to {t['end']}?"))
        elif m and (what := content_words(m.group(2), 6)):
            label = m.group(1).lower().rstrip(".")
            noun = {
                "table": "table of",
                "map": "map of",
                "photo": "photo of",
                "image": "image of",
                "diagram": "diagram of",
            }
            out.append((2.0, view.named(f"{noun.get(label, 'chart of')} {' '.join(what)}")))
    return out


# ---------------------------------------------------------------------------------------------
# The bound on copied words
# ---------------------------------------------------------------------------------------------


def _page_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = words(text)
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def _bound_copy(query: str, page_words: set[tuple[str, ...]], max_words: int) -> str | None:
    """Drop words until no `max_words + 1` consecutive words of the query appear on the page."""
    toks = query.split()
    for _ in range(len(toks)):
        flat = [(i, w) for i, t in enumerate(toks) for w in words(t)]
        hit = next(
            (
                k
                for k in range(len(flat) - max_words)
                if tuple(w for _, w in flat[k : k + max_words + 1]) in page_words
            ),
            None,
        )
        if hit is None:
            return " ".join(toks)
        window = [i for i, _ in flat[hit : hit + max_words + 1]]
        # Prefer dropping a stopword inside the copied run, else its middle word.
        victim = next((i for i in window if toks[i].lower() in STOPWORDS), window[len(window) // 2])
        del toks[victim]
    return None


# ---------------------------------------------------------------------------------------------
# Well-formed questions
# ---------------------------------------------------------------------------------------------

_SENTENCE_KINDS = frozenset({"question"})
_QUESTION_START = re.compile(
    r"^(?:what|which|who|whom|whose|where|when|why|how|is|are|does|do|did|can|should|in what)\b", re.I
)
_DANGLING_POSSESSIVE = re.compile(r"(?:['’]s['’])|(?:\w['’]s?\s+\w+['’]s?\b)|(?:['’]s?\s*\?)")
_HOW_MANY_AT = re.compile(r"^how many\b.*\bat\b", re.I)


def well_formed_question(text: str) -> bool:
    """A question a person could have typed: starts with a question word, ends with one "?", at most
    one possessive and none left dangling ("user's' quotes", "acme's?"), no "how many X at Y", no
    word twice in a row, does not end on a function word ("... for?"), 3 to 20 words."""
    toks = text[:-1].split() if text.endswith("?") else []
    if not toks or text.count("?") != 1 or not 3 <= len(toks) <= 20:
        return False
    if not _QUESTION_START.match(text) or _HOW_MANY_AT.match(text) or _DANGLING_POSSESSIVE.search(text):
        return False
    last = toks[-1].lower().strip("'’")
    if (last in _BAD_END and not (last == "do" and re.match(r"^what (?:does|do|did)\b", text, re.I))) or any(
        a.lower() == b.lower() for a, b in pairwise(toks)
    ):
        return False
    return not any(t.endswith(("'", "’")) and not t[:-1].lower().endswith("s") for t in toks)


# ---------------------------------------------------------------------------------------------
# Spans of running text
# ---------------------------------------------------------------------------------------------

_PROSE_WORD = re.compile(r"[A-Za-z][a-z'’-]+[,.;:]?")
_CODE_CHARS = re.compile(r"[\\{}<>=|_^~@#●■□◆▪]")
_SPAN_WORDS = (6, 12)


def span_queries(lines: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """Up to `n` non-overlapping crops of 6 to 12 words of `lines` (the page body, headers removed):
    each starts on a prose word, holds at most two words that are not (numbers, symbols, OCR debris)
    and no code (backslashes, braces, operators)."""
    toks = " ".join(lines).split()
    low, high = _SPAN_WORDS
    prose = [bool(_PROSE_WORD.fullmatch(t)) for t in toks]
    starts = [i for i in range(len(toks) - low + 1) if prose[i]]
    out: list[str] = []
    while starts and len(out) < n:
        start = rng.choice(starts)
        size = rng.randint(low, high)
        span = toks[start : start + size]
        if (
            len(span) >= low
            and len(span) - sum(prose[start : start + size]) <= 2
            and not any(_CODE_CHARS.search(t) for t in span)
        ):
            out.append(" ".join(span).strip(",.;: "))
            starts = [i for i in starts if i + high <= start or i >= start + size]
        else:
            starts.remove(start)
    return out


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


@dataclass
class TextQueryGenerator:
    """Synthetic queries from page text, no model needed.

    Args:
        max_copied_words: longest run of consecutive page words a query may repeat (spans excepted).
        spans_per_page: crops of the page's running text added to its `per_page` queries (0: none).
            Measured on ../shared/devset (220 real pages through OCR, 126 hand-written queries; the
            road's other queries and BM25-mined negatives, MNRL, lr 5e-5, one epoch; NDCG@10 with
            passage scoring): no spans 0.840, 2 per page 0.854, 4 per page 0.858, 8 per page 0.848
            (BM25 0.821); the whole road (benchmarks/devset_road.sh) 0.847 without spans, 0.857 with 4.
        seed: makes the choice among equally good queries reproducible.
    """

    max_copied_words: int = 5
    spans_per_page: int = 4
    seed: int = 0
    name: str = "text"
    copying_kinds: ClassVar[frozenset[str]] = COPYING_KINDS
    # Crops of the page (spans, bags of its rarest words): they train, but held-out splits leave them out.
    copy_kinds: ClassVar[frozenset[str]] = COPY_KINDS

    def __post_init__(self) -> None:
        if self.spans_per_page < 0:
            raise ValueError(f"spans_per_page must be >= 0, got {self.spans_per_page}")

    def settings(self) -> dict[str, Any]:
        return {"generator": self.name, "max_copied_words": self.max_copied_words,
                "spans_per_page": self.spans_per_page, "seed": self.seed}  # fmt: skip

    def generate(
        self, pages: Sequence[Page], per_page: int, *, show_progress: bool = True
    ) -> GenerationResult:
        from pagefit._progress import progress_bar
        from pagefit.pagetext import clean_page_text

        # The text ocr-minilm embeds and BM25 indexes: words joined again across line-end hyphens.
        pages = [replace(page, text=clean_page_text(page.text)) for page in pages]
        stats = _corpus_stats(pages)
        result = GenerationResult()
        with progress_bar("queries (text)", total=len(pages), unit="pages", enabled=show_progress) as bar:
            for page in pages:
                queries = self.page_queries(page, stats, per_page) if page.text.strip() else []
                result.queries += queries
                if not queries:
                    reason = (
                        "page has no text (OCR it at ingest, or use --generate openai/local)"
                        if not page.text.strip()
                        else "no query could be built from the page text"
                    )
                    result.failures.append({"page_id": page.page_id, "error": reason})
                bar.advance()
        return result

    def page_queries(self, page: Page, stats: _CorpusStats, per_page: int) -> list[GeneratedQuery]:
        """Up to `per_page` queries of as many different kinds as the page allows."""
        rng = random.Random(f"{self.seed}:{page.page_id}")
        boiler = stats.boilerplate.get(page.doc_id, set())
        lines = [x.strip() for x in page.text.splitlines() if x.strip()]
        edge = {0, 1, len(lines) - 2, len(lines) - 1}  # where a bare page number sits
        lines = unwrap([
            x for i, x in enumerate(lines)
            if line_signature(x) not in boiler and not (PAGE_NUMBER.match(x) and (i in edge or "page" in x.lower()))
        ])  # fmt: skip
        body = "\n".join(lines)
        context, year = stats.contexts.get(page.doc_id, ([], None))
        view = _PageView(
            page, lines, is_english(body), _phrases(body, stats, page.doc_id), context, year, rng
        )
        candidates = {
            "question": _question_queries(view, stats),
            "keyword": _keyword_queries(view, stats),
            "table": _table_queries(view, stats),
            "caption": _caption_queries(view),
            "heading": _heading_queries(view, stats),
        }
        page_words = _page_ngrams(page.text, self.max_copied_words + 1)
        pools = {
            k: self._bounded(v, page_words, trim=k not in _SENTENCE_KINDS) for k, v in candidates.items()
        }
        chosen = _round_robin(pools, per_page, rng)
        spans = [(SPAN, text) for text in span_queries(lines, self.spans_per_page, rng)]  # the filter dedupes
        return [GeneratedQuery(page.page_id, text, kind) for kind, text in chosen + spans]

    def _bounded(
        self, scored: list[tuple[float, str]], page_words: set[tuple[str, ...]], *, trim: bool = True
    ) -> list[str]:
        """Candidates best first, each within the copy bound: keyword-like ones lose words until they
        are; sentence-like ones (questions) are dropped instead, since a word cut out of a question
        breaks its grammar. Questions that are not well formed are dropped too."""
        out, seen = [], set()
        for _, text in sorted(scored, key=lambda x: -x[0]):
            text = " ".join(text.split())
            bounded = _bound_copy(text, page_words, self.max_copied_words)
            if not trim and bounded != text:
                continue
            text = bounded
            if not trim and text and not well_formed_question(text):
                logger.debug("dropped a malformed question: %r", text)
                continue
            toks = text.lower().split()
            if any(a == b for a, b in pairwise(toks)):
                continue  # "chart of plot fit fit"
            if text and len(words(text)) >= 2 and text.lower() not in seen:
                seen.add(text.lower())
                out.append(text)
        return out


def _round_robin(pools: dict[str, list[str]], per_page: int, rng: random.Random) -> list[tuple[str, str]]:
    """Take the best query of each kind in turn (kind order rotated per page), until `per_page`."""
    kinds = [k for k in KINDS if pools[k]]
    if not kinds:
        return []
    start = rng.randrange(len(kinds))
    # Questions and keywords first when present: they are what users type most.
    order = sorted(
        kinds, key=lambda k: (k not in ("question", "keyword"), (kinds.index(k) - start) % len(kinds))
    )
    chosen: list[tuple[str, str]] = []
    used: set[str] = set()
    queues = {k: list(pools[k]) for k in order}
    while len(chosen) < per_page and any(queues.values()):
        for kind in order:
            while queues[kind] and len(chosen) < per_page:
                text = queues[kind].pop(0)
                bag = " ".join(sorted(words(text)))  # same words in another order: the same query
                if bag not in used:
                    used.add(bag)
                    chosen.append((kind, text))
                    break
    return chosen
