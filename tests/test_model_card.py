"""Tests of kvsf_tune.model_card that need no trained model. test_export.py checks a real card's fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvsf_tune.model_card import card_path_for, library_versions


@pytest.mark.parametrize(
    ("path", "format", "expected"),
    [
        ("out/voter.keras", "keras", "out/voter.card.json"),
        ("out/matcher_savedmodel", "savedmodel", "out/matcher_savedmodel.card.json"),
        ("out/model.v2", "savedmodel", "out/model.v2.card.json"),
    ],
)
def test_card_path_beside_model(path, format, expected):
    assert card_path_for(Path(path), format) == Path(expected)


def test_library_versions_keys():
    assert set(library_versions()) == {"tensorflow", "keras", "keras_tuner", "numpy", "kvsf_tune"}
