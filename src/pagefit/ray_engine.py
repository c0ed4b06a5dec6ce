"""`--engine ray`: `ingest` and `index` as Ray Data pipelines, on a laptop or a cluster.

Nothing here imports Ray until a Ray engine is asked for (`pip install 'pagefit[ray]'`). The pipelines
reuse the default engine's per-unit functions and on-disk state, so both engines write the same corpus
and the same index, and a run of one engine resumes a run of the other:

- ingest: one row per document -> `map_batches` on an actor pool (one CPU each; an actor keeps its OCR
  engine loaded across documents) that runs the default engine's per-document function (`pagefit.ingest`), which writes the document's
  part file (`CORPUS/.pagefit/parts/`, the resume state) and page images itself, in parallel; the driver
  then assembles the corpus folder as the default engine does. A killed job re-does only the documents
  without a part file; a document that raises is a reject, as with the process pool.
- index: one row per page to embed -> `map_batches` on an actor pool of model replicas (one GPU each when
  the cluster has GPUs, else one CPU each) that run the default engine's page encoder (`pagefit.index`, through the shared
  embedding cache); the driver commits the vectors to the LanceDB table every `commit_every` pages, in
  page order, exactly as the default engine does.

Local Ray by default; `address` (`--ray-address`, or `RAY_ADDRESS`) joins a running cluster, whose
workers must see the same paths (a shared filesystem) and have pagefit installed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from pagefit.index.manifest import MultiVectorSettings

__all__ = ["Engine", "check_engine", "embed_page_stream", "ingest_documents", "ray_session", "require_ray"]

logger = logging.getLogger(__name__)

Engine = Literal["local", "ray"]
ENGINES = ("local", "ray")
INSTALL_HINT = "pip install 'pagefit[ray]'"
# What a worker must see as the driver does: where the text and embedding caches are, offline mode.
_FORWARDED_ENV = ("PAGEFIT_CACHE_DIR", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_LOG_EVERY_S = 10.0
_MAX_BLOCKS = 10_000  # one document a block up to this many (a block lost to crashes loses its documents)
_CRASH_RETRIES = 2


def check_engine(engine: str) -> Engine:
    """`engine` as an `Engine`, or a one-line error naming the choices (or how to install Ray), before any
    work starts."""
    if engine not in ENGINES:
        raise PagefitError(f"--engine must be {' or '.join(ENGINES)}, not {engine!r}")
    if engine == "ray":
        require_ray()
    return engine  # type: ignore[return-value]


def require_ray() -> Any:
    """The `ray` module with Ray Data, or an error that says how to install them."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise PagefitError(
            f"--engine ray needs Ray Data, which is not installed ({e}): {INSTALL_HINT}"
        ) from e
    return ray


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """A connected Ray: the one already initialised in this process, else a local one (or the cluster at
    ``address`` / ``RAY_ADDRESS``), shut down on exit only if this call started it."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        # "local" always starts a new local Ray (None would join any cluster `ray start` left on this machine)
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        # pagefit works offline and reports nothing: Ray's usage statistics (and Ray Data's usage-collection
        # actor, a process of its own) are off unless the user turned them on
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False, configure_logging=False)  # fmt: skip
        except (ConnectionError, ValueError, RuntimeError) as e:
            where = f"the Ray cluster at {address}" if address != "local" else "a local Ray"
            raise PagefitError(
                f"cannot start or join {where} ({e}): start one with `ray start --head`, check "
                "--ray-address / RAY_ADDRESS; a cluster with token authentication (Ray's default) also needs "
                "RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or ~/.ray/auth_token)"
            ) from e
        started = True
    _quiet_ray_data(ray)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _quiet_ray_data(ray: Any) -> None:
    """One progress display (pagefit's), in input order (the same outputs as the default engine)."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    context.execution_options.preserve_order = True
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # "Progress bars disabled": what we asked for, not a warning
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def _worker_env() -> dict[str, str]:
    return {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}


def _cluster_size(ray: Any, resource: str) -> int:
    return int(ray.cluster_resources().get(resource, 0))


class _Throughput:
    """Pages/s for the progress bar's status; off a terminal (where the bar draws nothing until the end), a
    line every few seconds instead."""

    def __init__(self, label: str, total: int, unit: str, enabled: bool) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.start = self.last_log = time.perf_counter()
        self.done = self.pages = 0
        self.log = enabled and not sys.stderr.isatty()

    def update(self, done: int, pages: int) -> str:
        self.done += done
        self.pages += pages
        now = time.perf_counter()
        rate = self.pages / max(now - self.start, 1e-9)
        status = f"{self.pages} pages, {rate:.1f} pages/s"
        if self.log and (now - self.last_log >= _LOG_EVERY_S or self.done == self.total):
            from rich.console import Console

            line = f"{self.label} (ray): {self.done}/{self.total} {self.unit}, {status}"
            Console(stderr=True).print(line, highlight=False)
            self.last_log = now
        return status


# ------------------------------------------------------------------------------------------------ ingest


class _DocumentIngester:
    """A Ray actor: runs the caller's per-document work (the default engine's function, which also writes the
    document's part file) on one document at a time."""

    def __init__(self, work: Callable[[str, str, str, str], dict[str, Any]], env: dict[str, str]) -> None:
        os.environ.update(env)
        self.work = work

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        rels, parts = [], []
        for path, rel, doc_id, sha256 in zip(
            batch["path"], batch["rel"], batch["doc_id"], batch["sha256"], strict=True
        ):
            part = self.work(str(path), str(rel), str(doc_id), str(sha256))
            rels.append(str(rel))
            parts.append(json.dumps(part, ensure_ascii=False))
        return {"rel": rels, "part": parts}


def ingest_documents(
    todo: list[Any],
    work: Callable[[str, str, str, str], dict[str, Any]],
    workers: int,
    on_part: Callable[[Any, dict[str, Any], str], None],
    address: str | None = None,
    show_progress: bool = True,
) -> list[Any]:
    """Ingest the documents ``todo`` (`pagefit.ingest._Source`) on Ray: ``work(path, rel, doc_id, sha256)``
    (a picklable module-level function of the caller, which writes the document's part file and returns it)
    runs in the actors, one document a call; ``on_part(source, part, status)`` is called in the driver for each finished document (its part file already written), with a progress
    status (pages, pages/s).

    Returns:
        The documents whose worker process died on every try (e.g. a pdfium abort): no part was written
        for them; the caller rejects them as the process pool does.
    """
    if not todo:
        return []
    with ray_session(address) as ray:
        size = max(1, min(len(todo), workers if workers > 1 else _cluster_size(ray, "CPU")))
        items = [{"path": str(s.path), "rel": s.rel, "doc_id": s.doc_id, "sha256": s.sha256} for s in todo]
        context = ray.data.DataContext.get_current()
        errored_blocks, context.max_errored_blocks = context.max_errored_blocks, -1  # skip, report below
        try:
            dataset = ray.data.from_items(items, override_num_blocks=min(len(items), _MAX_BLOCKS))
            with warnings.catch_warnings():
                # Ray 2.60 deprecates extra remote args (gone in 2.64) with no named parameter to replace
                # `max_task_retries` yet: the warning is for Ray's next API, not for the user
                warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
                dataset = dataset.map_batches(
                    _DocumentIngester,
                    batch_size=1,  # one document per call: a failure or a retry concerns one document
                    # all started at once (no slow scale-up); one document at a time each, so that an actor
                    # that dies (a pdfium abort) takes only its own document down, not others queued on it
                    compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
                    num_cpus=1,
                    # a lost worker is retried; a document that kills every try is not (Ray Data: forever)
                    max_task_retries=_CRASH_RETRIES,
                    fn_constructor_kwargs={"work": work, "env": _worker_env()},
                )
            by_rel = {s.rel: s for s in todo}
            throughput = _Throughput("ingest", len(todo), "documents", show_progress)
            for row in dataset.iter_rows():
                part = json.loads(row.pop("part"))
                on_part(by_rel.pop(row["rel"]), part, throughput.update(1, len(part.get("pages", []))))
        finally:
            context.max_errored_blocks = errored_blocks
    return list(by_rel.values())


# ------------------------------------------------------------------------------------------------- index


class _PageEmbedder:
    """A Ray actor: one model replica embedding pages through the default engine's page encoder."""

    def __init__(self, make_encoder: Callable[..., Any], model: Any, dim: int, multi: MultiVectorSettings | None,
                 batch_size: int, device: str, env: dict[str, str]) -> None:  # fmt: skip
        os.environ.update(env)
        self.encode = make_encoder(model.to(device), dim, multi, batch_size)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        vectors = self.encode([str(p) for p in batch["path"]], [str(k) for k in batch["key"]])
        if isinstance(vectors, np.ndarray):
            return {"row": batch["row"], "vector": vectors}
        # a multi-vector model: one (tokens, dim) array per page (a ragged tensor column for Ray Data)
        return {"row": batch["row"], "vector": vectors.pages(range(len(vectors)))}


def _pack_pages(pages: list[Any]) -> Any:
    """A multi-vector model's pages, one (tokens, dim) array each, packed as the table stores them."""
    from pagefit.multivector_embeddings import MultiVectorPages

    return MultiVectorPages.from_list(pages, dtype=pages[0].dtype)


def embed_page_stream(
    make_encoder: Callable[..., Any],
    model: Any,
    dim: int,
    multi: MultiVectorSettings | None,
    batch_size: int,
    address: str | None = None,
    show_progress: bool = True,
) -> Callable[[list[int], list[str], list[str], int], Iterator[tuple[list[int], Any]]]:
    """``stream(rows, paths, keys, chunk)``: yields ``(rows, vectors)`` in row order, ``chunk`` pages at a
    time, embedded with ``make_encoder(model, dim, multi, batch_size)`` (the caller's page encoder, a picklable
    module-level function) by replicas of the loaded ``model`` (shipped through Ray's object store, so with its
    prompts and settings) on an actor pool: one replica per GPU when the cluster has GPUs, else per CPU."""

    def stream(
        rows: list[int], paths: list[str], keys: list[str], chunk: int
    ) -> Iterator[tuple[list[int], Any]]:
        if not rows:
            return
        with ray_session(address) as ray:
            gpus = _cluster_size(ray, "GPU")
            resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
            size = max(1, min(gpus or _cluster_size(ray, "CPU"), -(-len(rows) // batch_size)))
            items = [{"row": i, "path": paths[i], "key": keys[i]} for i in rows]
            blocks = max(1, min(-(-len(items) // batch_size), 10_000))
            dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
                _PageEmbedder,
                batch_size=batch_size,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=size),
                fn_constructor_kwargs={
                    "make_encoder": make_encoder,
                    "model": model,
                    "dim": dim,
                    "multi": multi,
                    "batch_size": batch_size,
                    "device": "cuda" if gpus else "cpu",
                    "env": _worker_env(),
                },
                **resources,
            )
            throughput = _Throughput("index", len(rows), "pages", show_progress)
            for batch in dataset.iter_batches(batch_size=chunk, batch_format="numpy"):
                done = [int(r) for r in batch["row"]]
                throughput.update(len(done), len(done))
                yield done, batch["vector"] if multi is None else _pack_pages(list(batch["vector"]))

    return stream
