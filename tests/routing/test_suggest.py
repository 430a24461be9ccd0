"""Category suggestion: normalisation, the shipped model on citizens' phrasings, training,
model files and the operator's model taking over."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from lapor.routing import examples, suggest
from lapor.routing.suggest import normalise

HELD_OUT = Path(__file__).resolve().parents[2] / "bench" / "data" / "suggest_heldout.tsv"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sampahhh NUMPUK bgt!!!", "sampah menumpuk banget"),
        ("jln dpn sklh rusak", "jalan depan sekolah rusak"),
        ("gk ada yg angkut, udh 3 hari", "tidak ada yang angkut sudah hari"),
        ("nggak / ngga / enggak / kagak", "tidak tidak tidak tidak"),
        ("liat https://example.com/foto?id=1 di RT 05", "liat di rt"),
        ("cek www.contoh.id/a sekarang", "cek sekarang"),
        ("Café di gg 3 ditutup", "cafe di gang ditutup"),
        ("ｓａｍｐａｈ", "sampah"),  # full-width letters
        ("anak2 main di got", "anak main di got"),
        ("macettttt parahhh", "macet parah"),
        ("🚒🔥 kebakaran!!", "kebakaran"),
        ("tab\tnul\x00line\nend", "tab nuline end"),  # NUL dropped, "ll" squeezed
        ("1234 5678", ""),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


# Written for this test: neither in the training examples nor in the benchmark's held-out set.
PHRASES = [
    ("ada sampah numpuk di depan sekolah", "sampah"),
    ("sampah2 di kali belakang rumah ga pernah diangkut", "sampah"),
    ("mobil parkir di atas trotoar jalan kenanga", "parkir-liar"),
    ("tukang parkir liar narik duit di depan bank", "parkir-liar"),
    ("bangunan ruko tanpa izin nutupin saluran", "pelanggaran"),
    ("tiap malam ada balapan motor liar bikin berisik", "pelanggaran"),
    ("bangku di halte patah dua", "fasilitas-umum"),
    ("toilet umum di taman kota rusak dan jorok", "fasilitas-umum"),
    ("macet total dari pagi di perempatan", "kemacetan"),
    ("lampu merah ga nyala, kendaraan numpuk", "kemacetan"),
    ("air udah masuk rumah sedengkul", "banjir"),
    ("jalan depan pasar tergenang abis hujan", "banjir"),
    ("jalan bolong gede bgt di tikungan", "jalan-rusak"),
    ("aspal rusak parah banyak lubang", "jalan-rusak"),
    ("lampu jalan mati, gelap banget kalo malem", "lampu-jalan"),
    ("pju depan gang kedip kedip", "lampu-jalan"),
    ("pohon gede tumbang nutupin jalan", "pohon-tumbang"),
    ("dahan pohon patah hampir jatuh ke kabel", "pohon-tumbang"),
    ("pedagang kaki lima jualan di trotoar depan stasiun", "pkl-liar"),
    ("lapak pkl makan separuh jalan", "pkl-liar"),
    ("ada rumah kebakaran di gang 2, api gede", "kebakaran"),
    ("asap item tebel keluar dari gudang", "kebakaran"),
    ("banyak anjing liar di komplek", "lainnya"),
    ("air pam mati dari kemarin", "lainnya"),
]


@pytest.mark.parametrize(("text", "slug"), PHRASES)
def test_the_shipped_model_puts_the_right_category_in_its_top_three(text: str, slug: str) -> None:
    picked = suggest.suggest(text)
    assert slug in [s for s, _ in picked], picked
    assert len(picked) == 3
    scores = [score for _, score in picked]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


@pytest.mark.parametrize(
    ("text", "k", "allowed", "expected"),
    [
        ("xqzv wkwk", 3, None, []),  # no word the model knows: no guess
        ("", 3, None, []),
        ("!!! 123 🙏", 3, None, []),
        ("lampu jalan mati", 0, None, []),
        ("lampu jalan mati", -2, None, []),
        ("lampu jalan mati", 1, None, ["lampu-jalan"]),
        ("lampu jalan mati", 3, {"banjir", "sampah"}, None),  # only the allowed ones
        ("lampu jalan mati", 3, set(), []),
    ],
)
def test_what_comes_back(
    text: str, k: int, allowed: set[str] | None, expected: list[str] | None
) -> None:
    picked = [s for s, _ in suggest.suggest(text, k, allowed=allowed)]
    if expected is not None:
        assert picked == expected
    else:
        assert allowed is not None and picked and set(picked) <= allowed


def test_the_examples_file_is_what_the_parts_make() -> None:
    shipped = suggest.shipped_examples()
    assert examples.render(examples.compose()) == examples.DATA_FILE.read_text(encoding="utf-8")
    per_category = {slug: 0 for slug in examples.PROBLEMS}
    for slug, _ in shipped:
        per_category[slug] += 1
    assert set(per_category) == {
        "sampah", "parkir-liar", "pelanggaran", "fasilitas-umum", "kemacetan", "banjir",
        "jalan-rusak", "lampu-jalan", "pohon-tumbang", "pkl-liar", "kebakaran", "lainnya",
    }  # fmt: skip
    assert min(per_category.values()) >= 300


def test_no_held_out_text_is_a_training_example() -> None:
    held_out = suggest.read_examples(HELD_OUT.read_text(encoding="utf-8"))
    assert len(held_out) >= 25 * 12
    trained_on = {normalise(text) for _, text in suggest.shipped_examples()}
    leaked = [text for _, text in held_out if normalise(text) in trained_on]
    assert leaked == []


def test_training_is_counting_so_order_does_not_matter() -> None:
    shipped = suggest.shipped_examples()
    forward = suggest.count(shipped).to_json()
    assert suggest.count(list(reversed(shipped))).to_json() == forward
    assert forward == suggest.count(shipped).to_json()
    assert forward["classes"] == sorted(examples.PROBLEMS)


def test_a_saved_model_suggests_what_the_model_in_memory_does(tmp_path: Path) -> None:
    counts = suggest.count(suggest.shipped_examples())
    path = tmp_path / "model" / "category-model.json"
    suggest.save(counts, path)
    assert [p.name for p in path.parent.iterdir()] == ["category-model.json"]  # no temp left
    loaded = suggest.load(path)
    for text, _ in PHRASES:
        assert loaded.suggest(text) == suggest.shipped_model().suggest(text)


GOOD = {"format": suggest.FORMAT, "alpha": 0.1, "classes": ["a"], "documents": [2], "features": {}}


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "model",
        {**GOOD, "format": "other"},
        {**GOOD, "classes": "a"},
        {**GOOD, "documents": [0]},
        {**GOOD, "documents": [2, 3]},
        {**GOOD, "classes": [7]},
        {**GOOD, "features": []},
        {**GOOD, "features": {"w:x": "a"}},
        {**GOOD, "features": {"w:x": [[0]]}},
        {**GOOD, "features": {"w:x": [[1, 1]]}},  # no class 1
        {**GOOD, "features": {"w:x": [[0, 3]]}},  # more texts than the class has
        {**GOOD, "features": {"w:x": [[0, "1"]]}},
        {**GOOD, "classes": [], "documents": []},
    ],
)
def test_a_file_that_is_not_a_model_is_refused(data: object, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        suggest.load(path)


def test_the_operators_model_is_preferred_and_read_again_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "category-model.json"
    assert suggest.model(path) is suggest.shipped_model()  # no file yet

    city = [("trotoar", "trotoar rusak dan berlubang"), ("trotoar", "ubin trotoar lepas")] * 3
    city += [("sampah", "sampah menumpuk di gang")] * 3
    suggest.save(suggest.count(city), path)
    assert suggest.suggest("trotoarnya rusak", path=path)[0][0] == "trotoar"
    # The shipped model does not know a category the operator added.
    assert "trotoar" not in [s for s, _ in suggest.suggest("trotoarnya rusak")]

    suggest.save(suggest.count([("banjir", "trotoar banjir")] * 2), path)
    os.utime(path, ns=(1, 1))  # a different stamp, even on a coarse clock
    assert [s for s, _ in suggest.suggest("trotoar rusak", path=path)] == ["banjir"]

    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="lapor.routing.suggest"):
        assert suggest.model(path) is suggest.shipped_model()
    assert "not used" in caplog.text


def test_retrain_measures_on_the_citys_held_out_reports() -> None:
    city = [("sampah", f"sampah menumpuk di gang {w}") for w in "abcdefghijklmnopqrst"] * 3
    city += [("banjir", f"air naik di kampung {w} banjir") for w in "abcdefghijklmnopqrst"] * 3
    city = [(slug, f"{text} {i}x{'y' * (i % 7)}") for i, (slug, text) in enumerate(city)]
    alone = suggest.retrain(city, [])
    assert alone.city == {"sampah": 60, "banjir": 60} and not alone.shipped
    assert alone.accuracy is not None and alone.accuracy[1] == 1.0
    assert alone.held_out >= suggest.MIN_HELD_OUT
    assert alone.shipped_accuracy is None

    few = suggest.retrain(city[:10], suggest.shipped_examples())
    assert few.accuracy is None and few.held_out == 0
    assert few.shipped["sampah"] >= 300

    with pytest.raises(ValueError):
        suggest.retrain([], [])
