"""Bad inputs to pairs, mine, train and eval: wrong folders, bad query files, vanished images, empty
splits, a text-only model, bad configs, a diverging loss. Each is one actionable line, exit 1, and
nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from _helpers import assert_nothing_half_written, assert_one_line_error, run_pagefit

from pagefit._io import shards

# ---------------------------------------------------------------------------------------- the wrong folder


@pytest.mark.parametrize(
    ("verb", "given", "needles"),
    [
        ("train", "corpus", ["is a corpus (made by `pagefit ingest`)", "`pagefit pairs", "--out PAIRS"]),
        ("train", "docs", ["holds documents", "`pagefit ingest", "`pagefit pairs CORPUS"]),
        ("train", "empty", ["is an empty folder", "`pagefit pairs` or `pagefit mine`"]),
        ("train", "model", ["is a model", "pass it as --model"]),
        ("mine", "corpus", ["is a corpus", "`pagefit mine` needs training data", "`pagefit pairs"]),
        (
            "pairs",
            "pairs",
            ["is a pairs folder (made by `pagefit pairs`)", "pass the corpus it was made from"],
        ),
        ("pairs", "docs", ["holds documents", "ingest it first: `pagefit ingest"]),
        ("eval", "pairs", ["is a pairs folder", "not a corpus", "pass the corpus it was made from"]),
    ],
)
def test_a_stage_given_the_wrong_kind_of_folder_says_what_it_is_and_what_to_do(
    road, tmp_path: Path, monkeypatch, minilm_path: Path, verb: str, given: str, needles: list[str]
) -> None:
    corpus, pairs = road
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "empty").mkdir()
    folder = {"corpus": corpus, "pairs": pairs, "docs": tmp_path / "docs", "empty": tmp_path / "empty",
              "model": minilm_path}[given]  # fmt: skip
    out = tmp_path / "out"
    args = {
        "train": ["train", folder, "--out", out],
        "mine": ["mine", folder, "--model", "ocr-minilm", "--out", out],
        "pairs": ["pairs", folder, "--out", out, "--generate", "text"],
        "eval": [
            "eval",
            "--corpus",
            folder,
            "--queries",
            pairs / "eval_queries.jsonl",
            "--bm25",
            "--out",
            out,
        ],
    }[verb]
    line = assert_one_line_error(
        run_pagefit([*args, "--no-progress"], monkeypatch), str(folder.name), *needles
    )
    assert "cannot load split" not in line
    assert not out.exists()
    assert_nothing_half_written(out)


# -------------------------------------------------------------------------------------------- query files


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("latin1.jsonl", '{"query": "caf\xe9 menu", "page_id": "x"}\n'.encode("latin-1"),
         ["latin1.jsonl:1: not UTF-8 text", "byte 0xe9", "save the file as UTF-8"]),
        ("latin1.csv", "query,page_id\nok,x\ncaf\xe9,y\n".encode("latin-1"), ["latin1.csv:3: not UTF-8"]),
        ("semicolons.csv", b"query;page_id\nhow much;x\n", ["semicolons.csv:1: the header has no 'query' column",
                                                           "query;page_id"]),
        ("tabs.csv", b"query\tpage_id\nhow much\tx\n", ["the header has no 'query' column", "tab-separated?"]),
        ("ragged.csv", b"query,page_id\nhow much, in total,x\n", ["ragged.csv:2: 1 more field(s)",
                                                                  "quote fields"]),
        ("headerless.tsv", b"how much\tx\n", ["headerless.tsv:1: the header has no 'query' column"]),
    ],
)  # fmt: skip
def test_bad_query_files_name_the_line(road, tmp_path: Path, monkeypatch, name: str, content: bytes,
                                       needles: list[str]) -> None:  # fmt: skip
    corpus, _ = road
    queries = tmp_path / name
    queries.write_bytes(content)
    out = tmp_path / "pairs-out"
    outcome = run_pagefit(["pairs", corpus, "--out", out, "--queries", queries, "--eval-fraction", "0",
                           "--no-progress"], monkeypatch)  # fmt: skip
    assert_one_line_error(outcome, *needles)
    assert not out.exists()


def test_a_spreadsheet_csv_with_a_byte_order_mark_is_read(road, tmp_path: Path, monkeypatch) -> None:
    corpus, pairs = road
    page = json.loads((pairs / "eval_queries.jsonl").read_text().splitlines()[0])["page_ids"][0]
    queries = tmp_path / "excel.csv"
    queries.write_bytes(f"query,page_id\r\nwhat was the total,{page}\r\n".encode("utf-8-sig"))
    outcome = run_pagefit(["pairs", corpus, "--out", tmp_path / "p", "--queries", queries, "--eval-fraction", "0",
                           "--no-progress"], monkeypatch)  # fmt: skip
    assert outcome.code == 0, outcome.err
    assert datasets.load_from_disk(str(tmp_path / "p"))["train"]["query"] == ["what was the total"]


# ----------------------------------------------------------------------------- folders changed between stages


def test_page_images_that_vanished_between_stages_are_named(road, tmp_path: Path, monkeypatch) -> None:
    corpus, pairs = road
    gone = datasets.load_from_disk(str(pairs))["train"][0]["image"]
    (corpus / gone).unlink()
    for args in (["mine", pairs, "--model", "ocr-minilm", "--out", tmp_path / "mined"],
                 ["train", pairs, "--out", tmp_path / "model"]):  # fmt: skip
        line = assert_one_line_error(run_pagefit([*args, "--no-progress"], monkeypatch), Path(gone).name)
        assert "missing" in line or "not existing image files" in line
    assert not (tmp_path / "mined").exists() and not (tmp_path / "model" / "model.safetensors").exists()


def test_an_empty_train_split_is_refused_by_mine_and_train(road, tmp_path: Path, monkeypatch) -> None:
    _corpus, pairs = road
    dsd = datasets.load_from_disk(str(pairs))
    dsd["train"] = dsd["train"].select([])
    hollow = tmp_path / "hollow"
    dsd.save_to_disk(str(hollow), num_shards=shards(dsd))
    (hollow / "pagefit_pairs.json").write_text((pairs / "pagefit_pairs.json").read_text())
    assert_one_line_error(run_pagefit(["mine", hollow, "--model", "ocr-minilm", "--out", tmp_path / "m",
                                       "--no-progress"], monkeypatch), "has no training pairs")  # fmt: skip
    assert_one_line_error(run_pagefit(["train", hollow, "--out", tmp_path / "t", "--no-progress"], monkeypatch),
                          "the train split of", "is empty")  # fmt: skip
    assert not (tmp_path / "m").exists()


def test_mine_with_a_text_only_model_reads_page_text(
    road, tmp_path: Path, monkeypatch, minilm_path: Path
) -> None:
    _, pairs = road
    outcome = run_pagefit(["mine", pairs, "--model", minilm_path, "--out", tmp_path / "m", "--no-progress"],
                          monkeypatch)  # fmt: skip
    assert outcome.code == 0, outcome
    assert (tmp_path / "m" / "train").is_dir()


# ---------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("lrr: 1.0e-4\nbatch_size: 4\n", ["unknown config key(s) 'lrr' (did you mean 'lr'?)", "user.yaml"]),
        ("batch_size: big\n", ["batch_size (got 'big')", "valid integer", "[in ", "user.yaml]"]),
        ("- lr: 1\n", ["user.yaml must hold a mapping"]),
        ("lr: [1\n", ["user.yaml is not valid YAML"]),
    ],
)
def test_a_bad_config_file_names_the_file_and_key(road, tmp_path: Path, monkeypatch, yaml_text: str,
                                                  needles: list[str]) -> None:  # fmt: skip
    _, pairs = road
    (tmp_path / "user.yaml").write_text(yaml_text)
    outcome = run_pagefit(["train", pairs, "--config", tmp_path / "user.yaml", "--out", tmp_path / "m",
                           "--no-progress"], monkeypatch)  # fmt: skip
    assert_one_line_error(outcome, *needles)
    assert not (tmp_path / "m").exists()


def test_a_diverging_loss_stops_training_and_saves_no_model(tmp_path: Path, monkeypatch,
                                                             tiny_qwen3vl_path: Path) -> None:  # fmt: skip
    from test_train import write_pairs  # tiny mined folder: 12 distinct pages, texts cached

    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))
    mined = write_pairs(tmp_path / "data")
    out = tmp_path / "model"
    outcome = run_pagefit(["train", mined, "--preset", "qwen3-vl-2b-vdr", "--model", tiny_qwen3vl_path,
                           "--matryoshka-dims", "64,32", "--truncate-dim", "32", "--out", out, "--lr", "1e30", "--max-steps", "8",
                           "--batch-size", "4", "--set", "eval_split=null", "--set", "save_every=1",
                           "--no-progress"], monkeypatch)  # fmt: skip
    line = assert_one_line_error(outcome, "training stopped at step", "the loss became", "No model was saved",
                                 "Lower --lr")  # fmt: skip
    step = int(line.split("training stopped at step ")[1].split(":")[0])
    assert step <= 8
    assert not (out / "train_summary.json").exists() and not (out / "model.safetensors").exists()
    import math

    from safetensors.torch import load_file

    for checkpoint in (out / "checkpoints").glob("checkpoint-*"):  # only steps before the divergence
        assert int(checkpoint.name.split("-")[1]) < step
        for file in checkpoint.rglob("model.safetensors"):
            for tensor in load_file(file).values():
                assert math.isfinite(float(tensor.float().abs().max()))


def test_a_new_stage_registers_its_folder_kind(tmp_path: Path) -> None:
    """The extension point for index/ and train-reranker/ outputs: register, then be named in errors."""
    from pagefit._kinds import _KINDS, FolderKind, detect_kind, register_kind, wrong_folder

    index = tmp_path / "index"
    index.mkdir()
    (index / "index_manifest.json").write_text("{}")
    saved = list(_KINDS)
    try:
        register_kind(
            FolderKind("index", "an index", "pagefit index", lambda p: (p / "index_manifest.json").is_file())
        )
        assert detect_kind(index) == "index"
        message = str(wrong_folder(index, "corpus"))
        assert message.startswith(f"{index} is an index (made by `pagefit index`), not a corpus:")
    finally:
        _KINDS[:] = saved
