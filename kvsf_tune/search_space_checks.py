"""Parse and check search-space files without importing TensorFlow, Keras or KerasTuner.

`kvsf_tune.search_space` builds on these functions. Every check raises `SearchSpaceError` with one
line that names the file, the entry's table, the key, the value received and what to do.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kvsf_tune.errors import SearchSpaceError

REQUIRED = ("optimizer", "learning_rate", "batch_size", "epochs", "restarts")
OPTIONAL = ("momentum",)
KNOWN = REQUIRED + OPTIONAL
OPTIMIZERS = ("sgd", "rmsprop", "adam")
TYPES = ("Choice", "Int", "Float", "Boolean", "Fixed")
SAMPLINGS = ("linear", "log", "reverse_log")

_CONDITION_KEYS = ("parent_name", "parent_values")
_ARGUMENT_KEYS = {
    "Choice": ("values", "ordered", "default"),
    "Int": ("min_value", "max_value", "step", "sampling", "default"),
    "Float": ("min_value", "max_value", "step", "sampling", "default"),
    "Boolean": ("default",),
    "Fixed": ("value",),
}
_NEEDED_KEYS = {
    "Choice": ("values",),
    "Int": ("min_value", "max_value"),
    "Float": ("min_value", "max_value"),
    "Boolean": (),
    "Fixed": ("value",),
}
# No known hyperparameter takes a Boolean, so a Boolean entry is rejected after its keys are
# checked. The type stays in TYPES because KerasTuner has it and `SearchSpace` handles it.
_ALLOWED_TYPES = {
    "optimizer": ("Choice", "Fixed"),
    "learning_rate": ("Float", "Choice", "Fixed"),
    "batch_size": ("Int", "Choice", "Fixed"),
    "epochs": ("Int", "Choice", "Fixed"),
    "restarts": ("Int", "Choice", "Fixed"),
    "momentum": ("Float", "Choice", "Fixed"),
}


@dataclass(frozen=True)
class HyperparameterSpec:
    """One hyperparameter of a search space, as KerasTuner's `hp.<type>(name, **arguments)`.

    Attributes:
        name: The hyperparameter's name, which is the table name in the file.
        type: `"Choice"`, `"Int"`, `"Float"`, `"Boolean"` or `"Fixed"`.
        arguments: KerasTuner keyword arguments other than the name and the condition, such as
            `values`, `min_value` or `value`.
        parent_name: The entry this one is conditional on, or `None` when it is always active.
        parent_values: The parent's values for which this entry is active.
    """

    name: str
    type: str
    arguments: dict
    parent_name: str | None = None
    parent_values: tuple | None = None


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
    """Check one hyperparameter's table on its own and return it as a `HyperparameterSpec`."""
    where = f"{path}: [{name}]"
    if name not in KNOWN:
        raise SearchSpaceError(
            f"{where} is an unknown hyperparameter. Use one of: {', '.join(KNOWN)}."
        )

    kind = _entry_type(where, name, table)
    _check_keys(where, kind, table)
    _check_type_allowed(where, name, kind)
    arguments = _PARSERS[kind](where, table)
    parent_name, parent_values = _parse_condition(where, name, table)
    entry = HyperparameterSpec(name, kind, arguments, parent_name, parent_values)

    _check_values(where, entry)
    return entry


def _entry_type(where: str, name: str, table: dict) -> str:
    allowed = _ALLOWED_TYPES[name]
    kind = table.get("type")
    if kind is None:
        raise SearchSpaceError(
            f'{where} has no type. Add type = "{allowed[0]}" or another of: {", ".join(allowed)}.'
        )
    if kind not in TYPES:
        raise SearchSpaceError(
            f"{where} type {show(kind)} is not a KerasTuner hyperparameter type. "
            f"Use one of: {', '.join(TYPES)}."
        )
    return kind


def _check_type_allowed(where: str, name: str, kind: str) -> None:
    allowed = _ALLOWED_TYPES[name]
    if kind not in allowed:
        raise SearchSpaceError(
            f"{where} type {show(kind)} is not allowed for {name}. "
            f"Use one of: {', '.join(allowed)}."
        )


def _check_keys(where: str, kind: str, table: dict) -> None:
    allowed = ("type", *_ARGUMENT_KEYS[kind], *_CONDITION_KEYS)
    for key, value in table.items():
        if key not in allowed:
            raise SearchSpaceError(
                f"{where} key {key} = {show(value)} is not allowed for type {kind}. "
                f"Allowed keys: {', '.join(allowed)}."
            )

    for key in _NEEDED_KEYS[kind]:
        if key not in table:
            raise SearchSpaceError(f"{where} has no {key}, which type {kind} needs. Add {key}.")


def _parse_choice(where: str, table: dict) -> dict:
    values = table["values"]
    if not isinstance(values, list) or not values:
        raise SearchSpaceError(
            f"{where} values {show(values)} is not a non-empty list. Write values = [a, b, ...]."
        )
    for value in values:
        _require_scalar(where, "values", value)
    _require_one_type(where, values)
    if len(set(values)) != len(values):
        raise SearchSpaceError(f"{where} values {show(values)} repeat a value. List each once.")

    arguments = {"values": list(values)}
    if "ordered" in table:
        arguments["ordered"] = _parse_ordered(where, table["ordered"], values)
    if "default" in table:
        default = table["default"]
        if type(default) is not type(values[0]) or default not in values:
            raise SearchSpaceError(
                f"{where} default {show(default)} is not one of values {show(values)}. "
                "Pick the default from values."
            )
        arguments["default"] = default
    return arguments


def _parse_ordered(where: str, ordered: object, values: list) -> bool:
    if not isinstance(ordered, bool):
        raise SearchSpaceError(f"{where} ordered {show(ordered)} is not true or false.")
    if ordered and not _is_number(values[0]):
        raise SearchSpaceError(
            f"{where} ordered = true needs numeric values, but values are {show(values)}. "
            "Remove ordered or set it to false."
        )
    return ordered


def _parse_range(where: str, table: dict, *, integer: bool) -> dict:
    low = _range_number(where, table, "min_value", integer)
    high = _range_number(where, table, "max_value", integer)
    if low > high:
        raise SearchSpaceError(
            f"{where} min_value {show(low)} is greater than max_value {show(high)}. "
            "Swap them or fix the range."
        )

    sampling = table.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise SearchSpaceError(
            f"{where} sampling {show(sampling)} is not a KerasTuner sampling. "
            f"Use one of: {', '.join(SAMPLINGS)}."
        )
    if sampling != "linear" and low <= 0:
        raise SearchSpaceError(
            f"{where} sampling {show(sampling)} needs min_value above 0, but min_value is "
            f"{show(low)}. Raise min_value or use linear sampling."
        )

    arguments = {"min_value": low, "max_value": high, "sampling": sampling}
    if "step" in table:
        arguments["step"] = _parse_step(where, table, low, high, sampling, integer)
    if "default" in table:
        arguments["default"] = _parse_range_default(where, table, low, high, integer)
    return arguments


def _range_number(where: str, table: dict, key: str, integer: bool) -> int | float:
    value = table[key]
    if integer and not _is_int(value):
        raise SearchSpaceError(
            f"{where} {key} {show(value)} is not an integer. Type Int needs one."
        )
    if not _is_number(value):
        raise SearchSpaceError(f"{where} {key} {show(value)} is not a finite number.")
    return value if integer else float(value)


def _parse_step(
    where: str, table: dict, low: float, high: float, sampling: str, integer: bool
) -> int | float:
    step = _range_number(where, table, "step", integer)
    if sampling == "linear":
        if step <= 0:
            raise SearchSpaceError(
                f"{where} step {show(step)} is not above 0. Use a positive step."
            )
        if high > low and step > high - low:
            raise SearchSpaceError(
                f"{where} step {show(step)} is larger than the range {show(low)} to "
                f"{show(high)}. Use a step of at most {show(high - low)}."
            )
        return step

    # With log sampling, KerasTuner multiplies by `step` between values, so it must exceed 1.
    if step <= 1:
        raise SearchSpaceError(
            f"{where} step {show(step)} must be above 1 with {sampling} sampling, because "
            "KerasTuner multiplies by it. Use a factor such as 2 or 10."
        )
    if high > low and step > high / low:
        raise SearchSpaceError(
            f"{where} step {show(step)} is larger than the range factor max_value / min_value = "
            f"{show(high / low)}. Use a smaller step."
        )
    return step


def _parse_range_default(
    where: str, table: dict, low: float, high: float, integer: bool
) -> int | float:
    default = _range_number(where, table, "default", integer)
    if not low <= default <= high:
        raise SearchSpaceError(
            f"{where} default {show(default)} is outside min_value {show(low)} to max_value "
            f"{show(high)}. Pick a default inside the range."
        )
    return default


def _parse_boolean(where: str, table: dict) -> dict:
    if "default" not in table:
        return {}
    default = table["default"]
    if not isinstance(default, bool):
        raise SearchSpaceError(f"{where} default {show(default)} is not true or false.")
    return {"default": default}


def _parse_fixed(where: str, table: dict) -> dict:
    value = table["value"]
    _require_scalar(where, "value", value)
    return {"value": value}


_PARSERS: dict[str, Callable[[str, dict], dict]] = {
    "Choice": _parse_choice,
    "Int": lambda where, table: _parse_range(where, table, integer=True),
    "Float": lambda where, table: _parse_range(where, table, integer=False),
    "Boolean": _parse_boolean,
    "Fixed": _parse_fixed,
}


def _parse_condition(where: str, name: str, table: dict) -> tuple[str | None, tuple | None]:
    parent_name = table.get("parent_name")
    parent_values = table.get("parent_values")
    if parent_name is None and parent_values is None:
        return None, None

    if parent_name is None or parent_values is None:
        raise SearchSpaceError(
            f"{where} sets only one of parent_name and parent_values. Set both to make the entry "
            "conditional, or neither."
        )
    if not isinstance(parent_name, str) or parent_name == name:
        raise SearchSpaceError(
            f"{where} parent_name {show(parent_name)} is not the name of another entry. "
            "Write the parent's table name in quotes."
        )
    if not isinstance(parent_values, list) or not parent_values:
        raise SearchSpaceError(
            f"{where} parent_values {show(parent_values)} is not a non-empty list. "
            'Write parent_values = ["sgd"], for example.'
        )
    for value in parent_values:
        _require_scalar(where, "parent_values", value)
    return parent_name, tuple(parent_values)


# Rules for the known hyperparameters' values.


@dataclass(frozen=True)
class _ValueRule:
    accepts: Callable[[object], bool]
    expected: str
    hint: str


_POSITIVE_INTEGER = _ValueRule(
    lambda value: _is_int(value) and value >= 1,
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
        lambda value: _is_number(value) and value > 0,
        "a number above 0",
        "Use a positive learning rate such as 0.01.",
    ),
    "batch_size": _POSITIVE_INTEGER,
    "epochs": _POSITIVE_INTEGER,
    "restarts": _POSITIVE_INTEGER,
    "momentum": _ValueRule(
        lambda value: _is_number(value) and 0 <= value < 1,
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


def listed_values(entry: HyperparameterSpec) -> list:
    """Return the values of a Choice, Boolean or Fixed entry."""
    if entry.type == "Choice":
        return list(entry.arguments["values"])
    if entry.type == "Boolean":
        return [False, True]
    return [entry.arguments["value"]]


def int_values(entry: HyperparameterSpec) -> Sequence[int]:
    """Return every value an Int entry can take in KerasTuner 1.4.8, in increasing order.

    A `range` is returned where possible, so that a wide range costs no memory.
    """
    arguments = entry.arguments
    low, high = arguments["min_value"], arguments["max_value"]
    step = arguments.get("step")
    if arguments["sampling"] == "linear":
        values = range(low, high + 1, step or 1)
    elif step is None:
        values = range(low, high + 1)
    else:
        values = [int(value) for value in stepped_values(arguments)]

    # KerasTuner starts from the default, even when it is not on the step's grid.
    default = arguments.get("default", low)
    return values if default in values else sorted([default, *values])


def stepped_values(arguments: dict) -> list[float]:
    """Return the values of a range with a step, as KerasTuner 1.4.8's `Numerical` lists them."""
    low, high, step = arguments["min_value"], arguments["max_value"], arguments["step"]
    sampling = arguments["sampling"]
    if sampling == "linear":
        count = int((high - low) // step + 1)
        return [low + index * step for index in range(count)]

    count = int(math.log(high / low, step) + 1e-8) + 1
    if sampling == "log":
        return [low * step**index for index in range(count)]
    return [high + low - low * step**index for index in range(count)]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_scalar(where: str, key: str, value: object) -> None:
    is_scalar = isinstance(value, (str, bool, int)) or _is_number(value)
    if not is_scalar:
        raise SearchSpaceError(
            f"{where} {key} contains {show(value)}, which is not a string, integer, finite float "
            "or boolean. Use only such values."
        )


def _require_one_type(where: str, values: list) -> None:
    types = sorted({type(value).__name__ for value in values})
    if len(types) > 1:
        raise SearchSpaceError(
            f"{where} values {show(values)} mix the types {', '.join(types)}, but KerasTuner needs "
            "one type. Write every number as a float (0.0) or every one as an integer."
        )


def show(value: object) -> str:
    """Format `value` the way TOML writes it, so messages quote what the file contains."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
