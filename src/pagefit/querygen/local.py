"""`--generate local`: queries from a vision-language model run in this process with transformers.

Any image-text-to-text checkpoint with a chat template works (Qwen2/2.5/3-VL, SmolVLM, Idefics3,
Gemma 3, ...). Same prompt and answer parsing as the openai backend; answers are cached on disk under
(page hash, model fingerprint, prompt, generation settings), so an interrupted run resumes where it
stopped. This needs a GPU for real models; on a CPU it is for small models and tests.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagefit.errors import PagefitError
from pagefit.querygen._base import (
    GeneratedQuery,
    GenerationResult,
    MalformedAnswerError,
    Page,
    ResponseCache,
    parse_query_answer,
    take_queries,
)
from pagefit.querygen.prompts import query_prompt

__all__ = ["LocalQueryGenerator"]

logger = logging.getLogger(__name__)


def _fingerprint(model: str) -> str:
    """A cheap identity of a checkpoint: its name, or for a folder its config and weight file sizes."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and (f.suffix in {".json", ".safetensors", ".bin", ".jinja"}):
            h.update(f"{f.name}:{f.stat().st_size}:".encode())
            if f.suffix in {".json", ".jinja"}:
                h.update(f.read_bytes())
    return f"{path.resolve()}@{h.hexdigest()[:16]}"


@dataclass
class LocalQueryGenerator:
    """Generate queries with a local transformers vision-language model.

    Args:
        model: a checkpoint folder or hub name (`AutoModelForImageTextToText` + `AutoProcessor`).
        max_new_tokens: length bound of each answer.
        max_pixels: pages are downscaled to at most this many pixels before the processor sees them.
        device: "cpu", "cuda", ...; default: cuda when available.
        cache: where answers are kept (default: the pagefit cache folder, `querygen/`).
    """

    model: str
    max_new_tokens: int = 256
    max_pixels: int = 1024 * 1024
    device: str | None = None
    trust_remote_code: bool = False
    cache: ResponseCache = field(default_factory=ResponseCache)
    name: str = "local"
    stats: dict[str, int] = field(default_factory=dict, init=False)

    def settings(self) -> dict[str, Any]:
        return {"generator": self.name, "model": self.model, "max_new_tokens": self.max_new_tokens,
                "max_pixels": self.max_pixels}  # fmt: skip

    def generate(
        self, pages: Sequence[Page], per_page: int, *, show_progress: bool = True
    ) -> GenerationResult:
        from pagefit._progress import progress_bar

        prompt = query_prompt(per_page)
        fingerprint = _fingerprint(self.model)
        self.stats = {"cached": 0, "generated": 0, "failed": 0}
        result = GenerationResult()
        loaded = None
        with progress_bar(
            "queries (local VLM)", total=len(pages), unit="pages", enabled=show_progress
        ) as bar:
            for page in pages:
                key = ResponseCache.key(
                    "local-vlm", page.image_hash, fingerprint, prompt, self.max_new_tokens
                )
                hit = self.cache.get(key)
                if hit is None:
                    loaded = loaded or self._load()
                    answer = self._answer(loaded, page, prompt)
                    self.cache.put(key, {"page_id": page.page_id, "image_hash": page.image_hash, "model": fingerprint,
                                         "content": answer, "created": time.time()})  # fmt: skip
                    self.stats["generated"] += 1
                else:
                    answer = hit["content"]
                    self.stats["cached"] += 1
                self._collect(page, answer, per_page, result)
                bar.advance()
        return result

    def _collect(self, page: Page, answer: str, per_page: int, result: GenerationResult) -> None:
        try:
            found = take_queries(parse_query_answer(answer, allow_lines=True), per_page)
        except MalformedAnswerError as e:
            self.stats["failed"] += 1
            result.failures.append({"page_id": page.page_id, "image_hash": page.image_hash, "error": str(e),
                                    "answer": answer[:500]})  # fmt: skip
            return
        result.queries += [GeneratedQuery(page.page_id, q, kind) for kind, q in found]

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            processor = AutoProcessor.from_pretrained(self.model, trust_remote_code=self.trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(
                self.model, dtype="auto", trust_remote_code=self.trust_remote_code
            )
        except (OSError, ValueError) as e:
            raise PagefitError(f"cannot load the vision-language model {self.model!r}: {e}") from e
        if getattr(processor, "chat_template", None) is None:
            raise PagefitError(
                f"{self.model} has no chat template: --generate local needs an instruction-tuned VLM"
            )
        logger.info("loaded %s on %s", self.model, device)
        return model.to(device).eval(), processor

    def _answer(self, loaded: tuple[Any, Any], page: Page, prompt: str) -> str:
        import torch
        from PIL import Image

        model, processor = loaded
        with Image.open(page.image_path) as im:
            image = im.convert("RGB")
        if image.width * image.height > self.max_pixels:
            scale = (self.max_pixels / (image.width * image.height)) ** 0.5
            image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
        messages = [
            {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}
        ]
        inputs = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        ).to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[0, inputs["input_ids"].shape[1] :]
        return processor.decode(new_tokens, skip_special_tokens=True)
