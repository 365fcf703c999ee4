"""Search-space files as a whole: reading them and checking kvsf-tune's rules.

`read_document` and `split_document` turn a file into one table per hyperparameter, `parse_entry`
checks one table against the hyperparameters in `KNOWN` and their value rules, and
`check_space` checks the rules that involve several entries: required entries and conditions.
`kvsf_tune.search_space` builds on these functions. Every check raises `SearchSpaceError` with one
line that names the file, the entry's table, the key, the value received and what to do. Nothing
here imports TensorFlow, Keras or KerasTuner.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kvsf_tune.errors import SearchSpaceError
from kvsf_tune.search_space_entry import (
    HyperparameterSpec,
    int_values,
    is_int,
    is_number,
    listed_values,
    parse_table,
    show,
)

REQUIRED = ("optimizer", "learning_rate", "batch_size", "epochs", "restarts")
OPTIONAL = ("momentum",)
KNOWN = REQUIRED + OPTIONAL
OPTIMIZERS = ("sgd", "rmsprop", "adam")

# No known hyperparameter takes a Boolean, so a Boolean entry is rejected after its keys are
# checked. The type stays in `search_space_entry.TYPES` because KerasTuner has it and
# `SearchSpace` handles it.
_ALLOWED_TYPES = {
    "optimizer": ("Choice", "Fixed"),
    "learning_rate": ("Float", "Choice", "Fixed"),
    "batch_size": ("Int", "Choice", "Fixed"),
    "epochs": ("Int", "Choice", "Fixed"),
    "restarts": ("Int", "Choice", "Fixed"),
    "momentum": ("Float", "Choice", "Fixed"),
}


# Reading the file.


def read_document(path: Path) -> dict:
    """Read a TOML file into a dict, raising `SearchSpaceError` if it is missing or invalid."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SearchSpaceError(
            f"{path}: search-space file not found. Check the path, or copy "
            "search_spaces/example.toml to start one."
        ) from None
    except OSError as error:
        raise SearchSpaceError(
            f"{path}: failed to read the file: {error.strerror}. Pass a readable TOML file."
        ) from error
    except UnicodeDecodeError as error:
        raise SearchSpaceError(
            f"{path}: invalid UTF-8 ({error.reason} at byte {error.start}). "
            "Save it as UTF-8."
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise SearchSpaceError(f"{path}: invalid TOML: {error}. Fix the syntax there.") from error


def split_document(path: Path, document: dict) -> tuple[str, dict[str, dict]]:
    """Return a document's `description` and its tables, one per hyperparameter."""
    description = document.get("description", "")
    if not isinstance(description, str):
        raise SearchSpaceError(
            f"{path}: description {show(description)} is not a string. "
            'Write it in quotes, as description = "...".'
        )

    tables = {}
    for key, value in document.items():
        if isinstance(value, dict):
            tables[key] = value
        elif key != "description":
            raise SearchSpaceError(
                f"{path}: top-level key {key} = {show(value)} is not a table. Declare each "
                f"hyperparameter as a [{key}] table, because only description may stand outside "
                "a table."
            )

    if not tables:
        raise SearchSpaceError(
            f"{path}: the file declares no hyperparameters. Add a table for each of "
            f"{', '.join(REQUIRED)}, as search_spaces/example.toml shows."
        )
    return description, tables


# Checking one entry.


def parse_entry(path: Path, name: str, table: dict) -> HyperparameterSpec:
    """Check one table as a hyperparameter of `KNOWN` and return it as a `HyperparameterSpec`.

    The checks cover the table's name, its type, keys and arguments, its condition on its own, and
    the value rules of that hyperparameter. `check_space` checks the condition against the others.
    """
    where = f"{path}: [{name}]"
    if name not in KNOWN:
        raise SearchSpaceError(
            f"{where} is an unknown hyperparameter. Use one of: {', '.join(KNOWN)}."
        )

    entry = parse_table(where, name, table, allowed_types=_ALLOWED_TYPES[name])
    _check_values(where, entry)
    return entry


# Rules for the known hyperparameters' values.


@dataclass(frozen=True)
class _ValueRule:
    accepts: Callable[[object], bool]
    expected: str
    hint: str


_POSITIVE_INTEGER = _ValueRule(
    lambda value: is_int(value) and value >= 1,
    "a positive integer",
    "Use whole numbers of 1 or more.",
)
_VALUE_RULES = {
    "optimizer": _ValueRule(
        lambda value: value in OPTIMIZERS,
        "a supported optimizer",
        f"Use one of: {', '.join(OPTIMIZERS)}.",
    ),
    "learning_rate": _ValueRule(
        lambda value: is_number(value) and value > 0,
        "a number above 0",
        "Use a positive learning rate such as 0.01.",
    ),
    "batch_size": _POSITIVE_INTEGER,
    "epochs": _POSITIVE_INTEGER,
    "restarts": _POSITIVE_INTEGER,
    "momentum": _ValueRule(
        lambda value: is_number(value) and 0 <= value < 1,
        "a number from 0 up to but not including 1",
        "Use a momentum such as 0.0 or 0.9.",
    ),
}


def _check_values(where: str, entry: HyperparameterSpec) -> None:
    rule = _VALUE_RULES[entry.name]
    for subject, value in _checked_values(entry):
        if not rule.accepts(value):
            raise SearchSpaceError(f"{where} {subject} is not {rule.expected}. {rule.hint}")


def _checked_values(entry: HyperparameterSpec) -> list[tuple[str, object]]:
    arguments = entry.arguments
    if entry.type == "Choice":
        return [(f"value {show(value)} in values", value) for value in arguments["values"]]
    if entry.type == "Fixed":
        return [(f"value {show(arguments['value'])}", arguments["value"])]
    if entry.type in ("Int", "Float"):
        keys = ("min_value", "max_value")
        return [(f"{key} {show(arguments[key])}", arguments[key]) for key in keys]
    return []


# Checks across entries.


def check_space(path: Path, entries: list[HyperparameterSpec]) -> None:
    """Check the rules that involve several entries: required names, conditions and momentum."""
    by_name = {entry.name: entry for entry in entries}
    missing = [name for name in REQUIRED if name not in by_name]
    if missing:
        tables = ", ".join(f"[{name}]" for name in missing)
        raise SearchSpaceError(
            f"{path}: required hyperparameters missing: {tables}. Add a table for each, for "
            'example with type = "Fixed" and a value.'
        )

    for entry in entries:
        if entry.parent_name is not None:
            _check_condition(f"{path}: [{entry.name}]", entry, by_name)

    if "momentum" in by_name:
        where = f"{path}: [momentum]"
        _check_momentum_condition(where, by_name["momentum"], by_name["optimizer"])


def _check_condition(where: str, entry: HyperparameterSpec, by_name: dict) -> None:
    if entry.name in REQUIRED:
        raise SearchSpaceError(
            f"{where} parent_name {show(entry.parent_name)} makes a required hyperparameter "
            "conditional, but every run needs it. Remove parent_name and parent_values."
        )

    parent = by_name.get(entry.parent_name)
    if parent is None:
        raise SearchSpaceError(
            f"{where} parent_name {show(entry.parent_name)} is not an entry of this file. "
            f"Use one of: {', '.join(by_name)}."
        )

    choices = _parent_choices(parent)
    if choices is None:
        raise SearchSpaceError(
            f"{where} parent_name {show(entry.parent_name)} is a Float entry, which has no "
            "discrete values to match. Make the parent a Choice, Int, Boolean or Fixed entry."
        )
    for value in entry.parent_values:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise SearchSpaceError(
                f"{where} parent_values entry {show(value)} is not a value of "
                f"[{parent.name}] {show(choices)}. Use values the parent can take."
            )


def _check_momentum_condition(
    where: str, momentum: HyperparameterSpec, optimizer: HyperparameterSpec
) -> None:
    others = [name for name in _parent_choices(optimizer) if name != "sgd"]
    if not others:
        return

    only_sgd = momentum.parent_name == "optimizer" and set(momentum.parent_values) <= {"sgd"}
    if only_sgd:
        return

    if momentum.parent_name is None:
        condition = "has no parent_name"
    else:
        values = show(list(momentum.parent_values))
        condition = f"is active for {momentum.parent_name} in {values}"
    raise SearchSpaceError(
        f"{where} is used only with SGD, but optimizer can also be {', '.join(others)} and "
        f'momentum {condition}. Set parent_name = "optimizer" and parent_values = ["sgd"].'
    )


def _parent_choices(entry: HyperparameterSpec) -> list | None:
    """Return every value `entry` can take, or `None` for a Float, whose values are continuous."""
    if entry.type == "Int":
        return int_values(entry)
    if entry.type == "Float":
        return None
    return listed_values(entry)

