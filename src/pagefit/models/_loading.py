"""Loading models by name: built-ins, local folders (safely), Hugging Face Hub ids.

How a saved `ocr-minilm` (or any folder naming a pagefit module) is loaded without blindly trusting
remote code
--------------------------------------------------------------------------------------------------
What Sentence Transformers 6.2 does with a class named in a folder's ``modules.json`` (and in a
``Router``'s ``router_config.json``), in ``sentence_transformers.util.import_module_class``:

* a class under ``sentence_transformers.`` is imported directly: always allowed;
* any other class needs ``trust_remote_code=True``, *also for a local folder* (a ``ValueError``
  otherwise, since ST 6.0). With the flag, ST first hands the name to transformers'
  ``get_class_from_dynamic_module``, which reads a ``module.Class`` name (one dot) as the file
  ``module.py`` *inside the model folder* (or ``repo--module.Class`` as a file of a Hub repository)
  and executes it; only when that fails (a dotted name such as ``pagefit.models.ocr_text.OcrText``
  cannot be split in two, a file is missing) does it import the installed module of that name.
  So a folder holding ``pagefit.py`` and naming ``pagefit.Evil`` would run the folder's file;
* the same flag also goes to every module's loader: the ``Transformer`` module passes it to
  ``AutoConfig``/``AutoModel``/``AutoProcessor``, which then execute the ``auto_map`` code a
  ``*config.json`` points at (a ``.py`` in the folder, or a file of another Hub repository).

pagefit therefore never turns ``trust_remote_code`` on by itself. For a local folder it reads
``modules.json`` and, recursively, every ``Router`` config. Classes under ``sentence_transformers.``
load as usual. When the only other classes are pagefit's own (``pagefit.`` names, e.g.
``pagefit.models.ocr_text.OcrText``), the folder holds no ``.py`` file and no ``*config.json`` with an
``auto_map``, pagefit imports those classes itself from the *installed* pagefit package and hands them
to Sentence Transformers (``SentenceTransformer._load_with_module_classes``, the same hook its trainer
uses to reload its own checkpoints), while ``trust_remote_code`` stays False for everything else: ST
still refuses any other class and transformers still refuses ``auto_map`` code. Anything else (a class
from another package, code in the folder) raises a `PagefitError` telling the user to pass
``--trust-remote-code`` (``trust_remote_code=True``) if they trust the folder; with that flag the
folder is loaded exactly as Sentence Transformers would. A Sentence Transformers version without that
hook fails closed (a `PagefitError`), never falling back to ``trust_remote_code=True``. Hub ids are passed through unchanged: only the
user's explicit flag enables remote code there.

Outside pagefit, such a folder loads with ``SentenceTransformer(folder, trust_remote_code=True)`` where
pagefit is installed (the flag then trusts the folder as a whole, as described above).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.models.ocr_colminilm import NAME as OCR_COLMINILM
from pagefit.models.ocr_colminilm import build_ocr_colminilm
from pagefit.models.ocr_minilm import NAME as OCR_MINILM
from pagefit.models.ocr_minilm import build_ocr_minilm

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["BUILTIN_MODELS", "inspect_model_folder", "load_model", "model_name"]

logger = logging.getLogger(__name__)

BUILTIN_MODELS: dict[str, Callable[..., SentenceTransformer]] = {
    OCR_MINILM: build_ocr_minilm,
    OCR_COLMINILM: build_ocr_colminilm,  # multi-vector (a MultiVectorEncoder)
}
"""Built-in model names and their builders (keyword arguments: device, truncate_dim, model_kwargs,
processor_kwargs)."""

_TRUSTED_PREFIX = "sentence_transformers."
SPARSE_PREFIX = "sparse:"
"""``sparse:NAME`` loads NAME as a `SparseEncoder` (a folder saved as one is detected without it)."""
_PAGEFIT_PREFIX = "pagefit."
_CLASS_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_SOURCE_ATTR = "_pagefit_source"
_LOAD_HOOK = "_load_with_module_classes"
_TRUST_HINT = "pass --trust-remote-code (trust_remote_code=True) only if you trust this folder's code"


def model_name(model: Any) -> str:
    """The label of a model spec, for messages, configs and reports: a name or path as given, or the
    name a loaded model was loaded by (`load_model` records it)."""
    if isinstance(model, str | os.PathLike):
        return os.fspath(model)
    name = getattr(model, _SOURCE_ATTR, None)
    if name:
        return name
    card = getattr(model, "model_card_data", None)
    return getattr(card, "base_model", None) or type(model).__name__


def load_model(
    name_or_path: str | os.PathLike[str],
    *,
    trust_remote_code: bool = False,
    device: str | None = None,
    truncate_dim: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
    processor_kwargs: dict[str, Any] | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> SentenceTransformer:
    """Load an embedding model: a built-in name, a local folder, or a Hugging Face Hub id.

    A model that reads text but not images takes the text route: it reads each page's corpus text
    (`pagefit.models.page_text`); ``text:NAME`` forces that route on a model that also reads images.

    Args:
        name_or_path: ``ocr-minilm``, a model folder, or a Hub id, optionally prefixed with ``text:``, or with
            ``sparse:`` to load it as a `SparseEncoder` (a raw masked-LM checkpoint then gets SPLADE pooling).
        trust_remote_code: allow code outside Sentence Transformers and pagefit (see module docs).
        device: torch device; None lets Sentence Transformers choose.
        truncate_dim: Matryoshka dimension the model's ``encode`` truncates to.
        model_kwargs: passed to ``AutoModel.from_pretrained`` (e.g. ``{"dtype": "bfloat16"}``).
        processor_kwargs: passed to the tokenizer/processor (e.g. image size bounds).
        query_prompt: replaces the model's ``query`` prompt (saved with the model).
        document_prompt: replaces the model's document prompt (saved with the model).

    Raises:
        PagefitError: unknown name, missing folder, untrusted code, a model the Hub cannot give, or one
            that reads neither text nor images.
    """
    from pagefit.models.page_text import attach_text_route, set_prompts, split_route_prefix

    label = os.fspath(name_or_path)
    name, forced = split_route_prefix(label)
    name, sparse = _split_sparse_prefix(name)
    kwargs_class: dict[str, Any] = {"model_class": _sparse_class()} if sparse else {}
    kwargs = {
        "device": device,
        "truncate_dim": truncate_dim,
        "model_kwargs": model_kwargs,
        "processor_kwargs": processor_kwargs,
    }
    path = Path(name).expanduser()
    if name in BUILTIN_MODELS:
        if path.is_dir():
            logger.warning(
                "%r names the built-in model; pass ./%s to load the folder of that name", name, name
            )
        model = BUILTIN_MODELS[name](**kwargs)
    elif path.is_dir():
        model = _load_folder(path, trust_remote_code=trust_remote_code, **kwargs_class, **kwargs)
    elif path.exists():
        raise PagefitError(f"{name} is a file, not a model folder")
    elif _looks_like_path(name):
        raise PagefitError(f"model folder {name} does not exist")
    else:
        model = _load_hub(name, trust_remote_code=trust_remote_code, **kwargs_class, **kwargs)
    setattr(model, _SOURCE_ATTR, label)
    if query_prompt is not None or document_prompt is not None:
        set_prompts(model, query=query_prompt, document=document_prompt)
    if not attach_text_route(model, forced=forced) and model.supports("image"):
        from pagefit.models.ocr_text import OcrText
        from pagefit.models.page_text import route_logger

        how = (
            "their text (its OCR route)" if any(isinstance(m, OcrText) for m in model.modules()) else "images"
        )
        route_logger.info("model %s reads pages as %s", label, how)
    return model


def _looks_like_path(name: str) -> bool:
    """A name no Hub id can have: relative/absolute/home paths, several slashes, backslashes."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _split_sparse_prefix(name: str) -> tuple[str, bool]:
    """``("NAME", True)`` for ``sparse:NAME``: load NAME as a `SparseEncoder`, e.g. a raw masked-LM checkpoint
    (``BertForMaskedLM``) that Sentence Transformers then reads with SPLADE pooling."""
    if name.startswith(SPARSE_PREFIX):
        rest = name[len(SPARSE_PREFIX) :]
        if not rest:
            raise PagefitError("`sparse:` needs a model after it, e.g. sparse:./splade-tiny")
        return rest, True
    return name, False


def _sparse_class() -> type:
    from sentence_transformers import SparseEncoder

    return SparseEncoder


def _load_hub(
    name: str, *, trust_remote_code: bool, model_class: type | None = None, **kwargs: Any
) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    model_class = model_class or SentenceTransformer
    if model_class is not SentenceTransformer:
        kwargs.pop("truncate_dim", None)
    try:
        return model_class(name, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as e:
        if "trust_remote_code" in str(e):
            raise PagefitError(f"model {name} needs its own code to load: {_TRUST_HINT}") from e
        builtins = ", ".join(BUILTIN_MODELS)
        raise PagefitError(
            f"could not load model {name!r}: not a local folder, not a built-in model ({builtins}), and "
            f"the Hugging Face Hub could not provide it ({type(e).__name__}: {_first_line(e)})"
        ) from e


def _model_class(path: Path) -> type:
    """`MultiVectorEncoder` or `SparseEncoder` for a folder saved as one (``model_type`` in its ST config), else
    `SentenceTransformer`."""
    from sentence_transformers import MultiVectorEncoder, SentenceTransformer, SparseEncoder

    config = path / "config_sentence_transformers.json"
    try:
        model_type = _read_json(config).get("model_type") if config.is_file() else None
    except (OSError, ValueError):
        model_type = None
    classes = {"MultiVectorEncoder": MultiVectorEncoder, "SparseEncoder": SparseEncoder}
    if not (path / "modules.json").is_file() and _is_masked_lm(path):  # a bare transformers folder
        logger.warning(
            "%s is a raw masked-LM checkpoint: loaded as a dense model (mean pooling); if it is a SPLADE model, "
            "pass sparse:%s to load it as a SparseEncoder",
            path,
            path,
        )
    return classes.get(model_type, SentenceTransformer)


def _is_masked_lm(path: Path) -> bool:
    """Whether a transformers folder holds a ``*ForMaskedLM`` model."""
    try:
        architectures = _read_json(path / "config.json").get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(str(a).endswith("ForMaskedLM") for a in architectures)


def _load_folder(
    path: Path, *, trust_remote_code: bool, model_class: type | None = None, **kwargs: Any
) -> SentenceTransformer:
    model_class = model_class or _model_class(path)
    if model_class.__name__ in ("MultiVectorEncoder", "SparseEncoder"):
        kwargs.pop("truncate_dim", None)  # token vectors and sparse vectors have no Matryoshka truncation
    if trust_remote_code:
        return model_class(str(path), trust_remote_code=True, **kwargs)
    module_classes = inspect_model_folder(path)
    if not module_classes:
        return _plain_load(path, model_class, **kwargs)
    # Private but deliberate: the hook ST's trainer uses for its own checkpoints (see module docs).
    # Without it pagefit fails closed: it never falls back to trusting the folder's code by itself.
    loader = getattr(model_class, _LOAD_HOOK, None)
    if not callable(loader):
        raise _missing_hook(path, model_class)
    return loader(str(path), module_classes, trust_remote_code=False, **kwargs)


def _missing_hook(path: Path, model_class: type) -> PagefitError:
    import sentence_transformers

    return PagefitError(
        f"model folder {path} holds pagefit modules, and the installed sentence-transformers "
        f"{sentence_transformers.__version__} lacks the hook pagefit loads them through safely "
        f"({model_class.__name__}.{_LOAD_HOOK}): install the version pagefit pins "
        "(`pip install 'sentence-transformers==6.2.0'`), or pass --trust-remote-code "
        "(trust_remote_code=True) only if you trust this folder's code"
    )


def _plain_load(path: Path, model_class: type, **kwargs: Any) -> SentenceTransformer:
    try:
        return model_class(str(path), trust_remote_code=False, **kwargs)
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise PagefitError(f"model folder {path} needs its own code to load: {_TRUST_HINT}") from e
        raise


def inspect_model_folder(path: str | os.PathLike[str]) -> dict[str, type]:
    """Check a saved model folder's module classes before loading it without ``trust_remote_code``.

    Returns:
        pagefit's own module classes the folder names, imported from the installed package (empty when
        it names only Sentence Transformers classes or is a plain transformers folder).

    Raises:
        PagefitError: it names a class from elsewhere, or names pagefit classes while holding code.
    """
    root = Path(path)
    refs = _class_refs(root)
    foreign = sorted(r for r in refs if not r.startswith((_TRUSTED_PREFIX, _PAGEFIT_PREFIX)))
    if foreign:
        raise PagefitError(
            f"model folder {root} names module classes outside Sentence Transformers and pagefit "
            f"({', '.join(foreign)}): loading it would run code from outside the installed packages; {_TRUST_HINT}"
        )
    own = sorted(r for r in refs if r.startswith(_PAGEFIT_PREFIX))
    if not own:
        return {}
    code = _code_files(root)
    if code:
        raise PagefitError(
            f"model folder {root} names pagefit modules but also holds code ({', '.join(code[:3])}); pagefit "
            f"loads its own modules only from folders without code; {_TRUST_HINT}"
        )
    return {ref: _import_own_class(ref, root) for ref in own}


def _class_refs(root: Path) -> set[str]:
    """Every module class named by ``modules.json`` and, recursively, by Router configs."""
    modules_json = root / "modules.json"
    if not modules_json.is_file():
        return set()
    refs: set[str] = set()
    for entry in _read_json(modules_json):
        refs.add(entry["type"])
        refs |= _router_refs(root / entry.get("path", ""), entry["type"])
    return refs


def _router_refs(folder: Path, class_ref: str) -> set[str]:
    if not class_ref.endswith((".Router", ".Asym")):
        return set()
    config_path = folder / "router_config.json"
    if not config_path.is_file():
        config_path = folder / "config.json"
    if not config_path.is_file():
        return set()
    types: dict[str, str] = _read_json(config_path).get("types", {})
    refs = set(types.values())
    for model_id, ref in types.items():
        refs |= _router_refs(folder / model_id, ref)
    return refs


def _code_files(root: Path) -> list[str]:
    """Files through which loading could import code from the folder: ``.py`` and ``auto_map``."""
    found = [str(p.relative_to(root)) for p in root.rglob("*.py")]
    for config in root.rglob("*config.json"):
        try:
            data = _read_json(config)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "auto_map" in data:
            found.append(f"{config.relative_to(root)} (auto_map)")
    return sorted(found)


def _import_own_class(ref: str, root: Path) -> type:
    from sentence_transformers.base.modules import Module
    from sentence_transformers.util import import_from_string

    error = PagefitError(
        f"model folder {root} names {ref!r}, which is not a module class of the installed pagefit "
        "(was it saved by another pagefit version?)"
    )
    if not _CLASS_REF.match(ref):
        raise error
    try:
        cls = import_from_string(ref)
    except ImportError as e:
        raise error from e
    if not (isinstance(cls, type) and issubclass(cls, Module) and cls.__module__.startswith(_PAGEFIT_PREFIX)):
        raise error
    return cls


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
