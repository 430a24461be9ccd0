"""Category suggestion takes whatever a citizen types: any text, any length, any k, any set of
active categories, gets a short list of valid slugs with scores, never an exception. A model
file is read like any input from outside: anything that is not a model is a ValueError."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapor.routing import suggest
from lapor.routing.examples import PROBLEMS

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SLUGS = sorted(PROBLEMS)

# Every code point, surrogates and controls included, and words the model knows mixed in.
ANY_CHARACTER = st.characters(blacklist_categories=())
KNOWN = st.sampled_from(
    ["sampah", "bgt", "jln", "banjir", "lampu", "macettt", "pohon", "https://x.id/a", "RT 05"]
)
TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=300),
    st.lists(st.one_of(KNOWN, st.text(ANY_CHARACTER, max_size=8)), max_size=40).map(" ".join),
    st.text(st.sampled_from("aé2 \n\x00\ud800🙏ｓ"), min_size=5_000, max_size=20_000),
)


@FUZZ
@given(
    text=TEXT,
    k=st.integers(min_value=-3, max_value=20),
    allowed=st.none() | st.sets(st.sampled_from([*SLUGS, "trotoar", ""])),
)
def test_suggest_never_raises_and_returns_valid_slugs(
    text: str, k: int, allowed: set[str] | None
) -> None:
    picked = suggest.suggest(text, k, allowed=allowed)
    assert len(picked) <= max(k, 0)
    slugs = [slug for slug, _ in picked]
    assert len(set(slugs)) == len(slugs)
    assert set(slugs) <= set(SLUGS)
    if allowed is not None:
        assert set(slugs) <= allowed
    scores = [score for _, score in picked]
    assert all(0.0 <= s <= 1.0 and not math.isnan(s) for s in scores)
    assert scores == sorted(scores, reverse=True)


@given(value=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_a_value_that_is_not_text_gets_no_suggestion(value: object) -> None:
    assert suggest.suggest(value) == []  # type: ignore[arg-type]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5000) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
MODEL_SHAPED = st.fixed_dictionaries(
    {
        "format": st.just(suggest.FORMAT),
        "classes": st.lists(st.sampled_from(SLUGS) | st.integers(), max_size=3),
        "documents": st.lists(st.integers(-1, 4) | st.text(max_size=2), max_size=3),
        "features": st.dictionaries(
            st.text(max_size=6),
            st.lists(st.lists(st.integers(-1, 5) | st.text(max_size=1), max_size=3), max_size=3)
            | JSON,
            max_size=4,
        ),
    }
)


_files = itertools.count()


@FUZZ
@given(data=st.one_of(JSON, MODEL_SHAPED))
def test_a_model_file_is_a_model_or_a_value_error(data: object, tmp_path: Path) -> None:
    path = tmp_path / f"model-{next(_files)}.json"  # a file of its own: models are cached
    path.write_text(json.dumps(data))
    try:
        model = suggest.load(path)
    except ValueError:
        assert suggest.model(path) is suggest.shipped_model()  # ignored, never fatal
        return
    assert set(model.classes) <= set(data["classes"])  # type: ignore[index]
    for slug, score in model.suggest("sampah banjir lampu", 3):
        assert slug in model.classes and 0 <= score <= 1
