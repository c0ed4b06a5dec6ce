"""The demo's shipped material: real PDFs (`corpus/`) and the hand-written questions about the held-out ones.

`corpus/sources.json` gives every document a role. The `train` documents are the user's collection the
road learns from (synthetic pairs split by document, mined negatives, training). The `heldout` documents
join the corpus only after mining, so none of their pages is a training row or a negative; the questions
in `corpus/questions.jsonl` were written by hand about them, before any model was run on them, and are the
demo's yardstick. Every question is searched over the whole corpus, training documents included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pagefit.demo.build_corpus import CORPUS_DIR, load_sources
from pagefit.errors import PagefitError

__all__ = ["QUICK_DOCUMENTS", "ShippedCorpus", "shipped_corpus"]

# The smoke test's subset: three small training documents (one becomes the synthetic eval split) and two
# held-out ones, enough for every stage to have work.
QUICK_DOCUMENTS = frozenset(
    {"matrix-intro", "matrix-sparse-models", "multcomp-examples", "matrix-comparisons", "lmtest-intro"}
)


@dataclass(frozen=True)
class ShippedCorpus:
    train: list[Path]  # PDFs the road trains on
    heldout: list[Path]  # PDFs the hand-written questions are about
    questions: list[dict]  # query_id, query, page_id, kind

    @property
    def pages(self) -> int:
        import pypdfium2 as pdfium

        total = 0
        for path in self.train + self.heldout:
            pdf = pdfium.PdfDocument(str(path))
            total += len(pdf)
            pdf.close()
        return total


def shipped_corpus(*, quick: bool = False, corpus_dir: Path = CORPUS_DIR) -> ShippedCorpus:
    """The shipped documents by role and the questions about the held-out ones (`quick`: a small subset)."""
    import json

    documents = [d for d in load_sources(corpus_dir) if not quick or Path(d["file"]).stem in QUICK_DOCUMENTS]
    paths = {
        role: [corpus_dir / d["file"] for d in documents if d["role"] == role]
        for role in ("train", "heldout")
    }
    missing = [p for ps in paths.values() for p in ps if not p.is_file()]
    if missing:
        raise PagefitError(
            f"the demo corpus lacks {missing[0]}: reinstall pagefit or run the build_corpus script"
        )
    heldout = {p.stem for p in paths["heldout"]}
    with (corpus_dir / "questions.jsonl").open(encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    questions = [q for q in questions if q["page_id"].split("#")[0] in heldout]
    return ShippedCorpus(train=paths["train"], heldout=paths["heldout"], questions=questions)
