"""How `pagefit pairs` splits queries by document: train, validation and eval never share a document.

Documents, not queries, are split: the eval share of queries is the closest to `eval_fraction` that whole
documents allow; documents linked by a query, by a pixel-identical page, by a near-copy page (the same normalised text,
see `near_copy_links`) or by being a copy of another document's pages stay on one side. The validation split is carved the same way from the *train*
documents: `pagefit train` selects its checkpoint and fusion weight on it, so the eval split stays the
yardstick that nothing was chosen on.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from pagefit.errors import PagefitError
from pagefit.pagetext import clean_page_text
from pagefit.queries import Query

MIN_GROUPS_FOR_VALIDATION = 3  # groups of train documents needed before one is held out for validation
# Near-copy pages: word 3-shingles of the normalised text with a Jaccard similarity of at least this; pages
# of fewer words (covers, "intentionally left blank") link nothing, or they would glue documents together.
NEAR_COPY_JACCARD = 0.8
NEAR_COPY_MIN_WORDS = 25
SHINGLE_WORDS = 3
MINHASH_PERMUTATIONS = 128

__all__ = [
    "NEAR_COPY_JACCARD",
    "NEAR_COPY_MIN_WORDS",
    "doc_groups",
    "duplicate_links",
    "eval_documents",
    "near_copy_links",
    "split_by_document",
    "validation_documents",
]


def doc_groups(
    queries: Sequence[Query], page_doc: dict[str, str], links: Iterable[tuple[str, str]] = ()
) -> list[list[str]]:
    """Documents that must share a split: linked by a query that names pages of several of them, or by
    `links` (e.g. pixel-identical pages, see `duplicate_links`); every document of `page_doc` appears."""
    parent: dict[str, str] = {}

    def find(d: str) -> str:
        while parent.setdefault(d, d) != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for d in page_doc.values():
        find(d)
    pairs_ = [(page_doc[q.page_ids[0]], page_doc[p]) for q in queries for p in q.page_ids[1:]]
    for a, b in [*pairs_, *links]:
        parent[find(b)] = find(a)
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for d in sorted(parent):
        groups[find(d)].append(d)
    return sorted(groups.values())


def duplicate_links(
    page_ids: Sequence[str],
    doc_ids: Sequence[str],
    hashes: Sequence[str | None],
    texts: Sequence[str | None],
    targeted: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[tuple[str, str]]:
    """Pairs of documents that share a pixel-identical page, so that they stay on one side of the split.

    A shared page links its documents when it has text or a query names it; a blank page that several
    documents share (an empty back cover) does not, or it would glue every document into one split.
    A document whose pages all have twins in other documents is linked to them whatever the pages hold.
    """
    by_hash: defaultdict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    for pid, doc, key, text in zip(page_ids, doc_ids, hashes, texts, strict=True):
        if key:
            by_hash[key].append((pid, doc, bool((text or "").strip()) or pid in targeted))
    pages_of: Counter[str] = Counter(doc_ids)
    twinned: Counter[str] = Counter()
    links: list[tuple[str, str]] = []
    all_dup: defaultdict[str, set[str]] = defaultdict(set)
    for group in by_hash.values():
        docs = sorted({doc for _, doc, _ in group})
        if len(docs) < 2:
            continue
        for _pid, doc, _ in group:
            twinned[doc] += 1
            all_dup[doc].update(d for d in docs if d != doc)
        if any(matters for _, _, matters in group):
            links += [(docs[0], d) for d in docs[1:]]
    links += [(doc, other) for doc, n in twinned.items() if n == pages_of[doc] for other in all_dup[doc]]
    return links


def page_shingles(text: str, size: int = SHINGLE_WORDS) -> tuple[set[str], int]:
    """(word shingles, word count) of a page's normalised text: cleaned as pagefit reads every page
    (`clean_page_text`: ligatures, soft hyphens, words split at line ends), NFKC, casefolded, words only."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", clean_page_text(text)).casefold())
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}, len(words)


def near_copy_links(
    doc_ids: Sequence[str],
    texts: Sequence[str | None],
    *,
    threshold: float = NEAR_COPY_JACCARD,
    min_words: int = NEAR_COPY_MIN_WORDS,
) -> list[tuple[str, str]]:
    """Pairs of documents that hold near-copy pages (a re-rendered or re-OCR'd page, a revised edition),
    so that they stay on one side of the split: pages whose word 3-shingle sets (`page_shingles`) have
    a Jaccard similarity of at least `threshold`. MinHash LSH (`datasketch`) proposes candidates, the exact
    Jaccard decides; pages of fewer than `min_words` words take no part. Only links that join documents
    not yet linked are returned (enough for `doc_groups`)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=MINHASH_PERMUTATIONS)
    group: dict[str, str] = {}

    def find(d: str) -> str:
        while group.setdefault(d, d) != d:
            group[d] = group[group[d]]
            d = group[d]
        return d

    links: list[tuple[str, str]] = []
    for i, text in enumerate(texts):
        grams, n_words = page_shingles(text or "")
        if n_words < min_words:
            continue
        sketch = MinHash(num_perm=MINHASH_PERMUTATIONS, seed=1)
        sketch.update_batch([g.encode("utf-8") for g in grams])
        for j in sorted(lsh.query(sketch)):
            if find(doc_ids[j]) == find(doc_ids[i]):
                continue
            other = page_shingles(texts[j] or "")[0]  # candidates are few: their shingles are made again
            if len(grams & other) >= threshold * len(grams | other):
                links.append((doc_ids[j], doc_ids[i]))
                group[find(doc_ids[i])] = find(doc_ids[j])
        lsh.insert(i, sketch)
    return sorted(links)


def _closest_subset(sizes: list[int], target: float) -> set[int]:
    """Indices of the groups whose sizes sum closest to `target`, keeping at least one group on each side.

    Exact subset sum over the reachable totals (a bitset per group), so whole documents give the
    closest eval share they allow; ties go to the smaller total.
    """
    total = sum(sizes)
    reach = [1]  # reach[i]: bit s set when some of the first i groups sum to s
    for n in sizes:
        reach.append(reach[-1] | (reach[-1] << n))
    sums = [s for s in range(1, total) if reach[-1] >> s & 1]
    best = min(sums, key=lambda s: (abs(s - target), s))
    chosen, s = set(), best
    for i in range(len(sizes), 0, -1):
        if not reach[i - 1] >> s & 1:  # the first i-1 groups cannot make s: group i-1 is in
            chosen.add(i - 1)
            s -= sizes[i - 1]
    return chosen


def eval_documents(
    queries: Sequence[Query],
    page_doc: dict[str, str],
    eval_fraction: float,
    seed: int,
    *,
    links: Iterable[tuple[str, str]] = (),
) -> set[str]:
    """The documents of the eval split: whole groups of linked documents (see `doc_groups`) whose query
    count comes closest to `eval_fraction` of all queries, at least one group with queries in each split.

    Groups are shuffled with `seed` first, so among equally close choices the seed decides.

    Raises:
        PagefitError: `eval_fraction` > 0 but all queries concern a single group of documents.
    """
    if not 0 <= eval_fraction < 1:
        raise PagefitError(f"--eval-fraction must be in [0, 1), got {eval_fraction}")
    if eval_fraction == 0:
        return set()
    size: Counter[str] = Counter(page_doc[q.page_ids[0]] for q in queries)
    groups = [g for g in doc_groups(queries, page_doc, links) if sum(size[d] for d in g)]
    if len(groups) < 2:
        docs = ", ".join(groups[0][:3]) if groups else "none"
        linked = " (documents sharing identical pages stay together)" if groups and len(groups[0]) > 1 else ""
        raise PagefitError(
            f"all queries concern one document{linked} ({docs}): a split by document needs at least two; "
            "add documents or pass --eval-fraction 0 (no eval split)"
        )
    random.Random(seed).shuffle(groups)
    chosen = _closest_subset([sum(size[d] for d in g) for g in groups], eval_fraction * len(queries))
    return {d for i in chosen for d in groups[i]}


def split_by_document(
    queries: Sequence[Query],
    page_doc: dict[str, str],
    eval_fraction: float,
    seed: int,
    *,
    links: Iterable[tuple[str, str]] = (),
) -> tuple[list[Query], list[Query]]:
    """Split queries so that no document (nor group of linked documents) has queries in both splits.

    The eval share of queries is the closest to `eval_fraction` that whole documents allow
    (see `eval_documents`).
    """
    eval_docs = eval_documents(queries, page_doc, eval_fraction, seed, links=links)
    is_eval = [page_doc[q.page_ids[0]] in eval_docs for q in queries]
    return [q for q, e in zip(queries, is_eval, strict=True) if not e], [
        q for q, e in zip(queries, is_eval, strict=True) if e
    ]


def validation_documents(
    train_queries: Sequence[Query],
    page_doc: dict[str, str],
    fraction: float,
    seed: int,
    *,
    links: Iterable[tuple[str, str]] = (),
) -> set[str]:
    """The documents of the validation split, carved from the train split's: whole groups of linked
    documents whose query count comes closest to `fraction` of the train queries (see `eval_documents`).
    Empty when `fraction` is 0 or the train queries concern fewer than `MIN_GROUPS_FOR_VALIDATION` groups
    (too few would be left to train on and to mine negatives from).
    """
    groups = [g for g in doc_groups(train_queries, page_doc, links) if any(page_doc[q.page_ids[0]] in g
                                                                            for q in train_queries)]  # fmt: skip
    if fraction <= 0 or len(groups) < MIN_GROUPS_FOR_VALIDATION:  # keep at least two groups to train on
        return set()
    try:
        # another seed than the eval split's, so the two draws are not the same shuffle of the groups
        return eval_documents(train_queries, page_doc, fraction, seed + 1, links=links)
    except PagefitError:
        return set()
