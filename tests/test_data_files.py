"""The data shipped in data/: every file is the one data/README.md lists (size and SHA-256, and for a .gz file the
SHA-256 of what it decompresses to), nothing unlisted ships, and the loaders read the compressed files."""
from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from fdcmdie.data import DataError
from fdcmdie.data.location import SHIPPED_ROOT, data_file, default_root, resolve_root
from fdcmdie.data.mosei import load_mosei
from fdcmdie.data.mosi import load_mosi

README = SHIPPED_ROOT / "README.md"


def listed() -> dict[str, dict]:
    """{file: {"bytes", "sha256", "gunzip_sha256"}} from the README's table after '## SHA-256 of the shipped files'."""
    text = README.read_text().split("## SHA-256 of the shipped files", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[0-9a-f]{64}", cells[2]):
            rows[cells[0]] = {"bytes": int(cells[1]), "sha256": cells[2], "gunzip_sha256": cells[3] or None}
    return rows


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_readme_lists_every_shipped_file_and_nothing_else():
    shipped = {p.relative_to(SHIPPED_ROOT).as_posix() for p in SHIPPED_ROOT.rglob("*") if p.is_file()} - {"README.md"}
    assert set(listed()) == shipped
    assert {"mosi/labels.csv.gz", "mosi/utterance_features.npz", "mosei/labels.csv.gz"} <= shipped


@pytest.mark.parametrize("name", sorted(listed()))
def test_shipped_file_matches_its_listed_sha256(name):
    row, raw = listed()[name], (SHIPPED_ROOT / name).read_bytes()
    assert (len(raw), sha256(raw)) == (row["bytes"], row["sha256"])
    assert (row["gunzip_sha256"] is not None) == name.endswith(".gz")
    if name.endswith(".gz"):
        assert sha256(gzip.decompress(raw)) == row["gunzip_sha256"]   # the released file, byte for byte


def test_loaders_read_the_compressed_files_as_pandas_does():
    ds = load_mosi(SHIPPED_ROOT, split="standard", modalities=("t", "a"))
    df = pd.read_csv(SHIPPED_ROOT / "mosi" / "labels.csv.gz", dtype={"id": str})
    test = df[df["split"] == "test"]
    assert ds.test.ids == test["id"].tolist() and (ds.test.labels == test["label"].to_numpy("float32")).all()
    mosei = load_mosei(SHIPPED_ROOT)
    assert (len(mosei.train), len(mosei.valid), len(mosei.test)) == (16274, 1861, 4653)


def test_default_root_is_the_shipped_copy_unless_the_environment_names_another(monkeypatch, tmp_path):
    monkeypatch.delenv("FDCMDIE_DATA", raising=False)
    assert default_root() == SHIPPED_ROOT == Path(__file__).resolve().parents[1] / "data"
    for unset in (None, "", "../shared/data"):          # "" is the config default; the other the former one
        assert resolve_root(unset) == SHIPPED_ROOT
    assert resolve_root(tmp_path) == tmp_path
    assert len(load_mosi(None).test) == 686                # no root at all: the shipped data
    monkeypatch.setenv("FDCMDIE_DATA", str(tmp_path))
    assert resolve_root("") == tmp_path and resolve_root("../shared/data") == tmp_path


def test_a_missing_file_is_named_with_its_compressed_alternative(tmp_path):
    (tmp_path / "mosi").mkdir()
    with pytest.raises(DataError, match=r"mosi/labels.csv: file not found \(nor labels.csv.gz\)"):
        load_mosi(tmp_path)
    (tmp_path / "x.csv").write_text("a\n1\n")
    assert data_file(tmp_path / "x.csv") == tmp_path / "x.csv"
    (tmp_path / "y.csv.gz").write_bytes(gzip.compress(b"a\n1\n"))
    assert data_file(tmp_path / "y.csv") == tmp_path / "y.csv.gz"
