"""One entry of a search-space file: a TOML table parsed into a `HyperparameterSpec`.

`parse_table` checks a table's type, keys, KerasTuner arguments and condition on their own. It
accepts any table name, because `kvsf_tune.search_space_file` checks the names and adds each
hyperparameter's own rules. `listed_values`, `int_values` and `stepped_values` list the values an
entry can take. Every check raises `SearchSpaceError` with one line that names the file, the
entry's table, the key, the value received and what to do. Nothing here imports TensorFlow, Keras
or KerasTuner.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kvsf_tune.errors import SearchSpaceError

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


# Parsing one table.


def parse_table(
    where: str, name: str, table: dict, *, allowed_types: Sequence[str]
) -> HyperparameterSpec:
    """Check one hyperparameter's table on its own and return it as a `HyperparameterSpec`.

    Args:
        where: The start of every message, such as `"space.toml: [epochs]"`.
        name: The table's name, which becomes the hyperparameter's name.
        table: The table as `tomllib` read it.
        allowed_types: The types this hyperparameter accepts. A message about a missing `type`
            suggests the first one.

    Raises:
        SearchSpaceError: If the type, a key, an argument or the condition is invalid.
    """
    kind = _entry_type(where, table, allowed_types)
    _check_keys(where, kind, table)
    _check_type_allowed(where, name, kind, allowed_types)
    arguments = _PARSERS[kind](where, table)
    parent_name, parent_values = _parse_condition(where, name, table)
    return HyperparameterSpec(name, kind, arguments, parent_name, parent_values)


def _entry_type(where: str, table: dict, allowed: Sequence[str]) -> str:
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


def _check_type_allowed(where: str, name: str, kind: str, allowed: Sequence[str]) -> None:
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
    if ordered and not is_number(values[0]):
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
    if integer and not is_int(value):
        raise SearchSpaceError(
            f"{where} {key} {show(value)} is not an integer. Type Int needs one."
        )
    if not is_number(value):
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


# Values an entry can take.


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


def is_number(value: object) -> bool:
    """Return whether `value` is a finite `int` or `float`, which excludes `bool`."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: object) -> bool:
    """Return whether `value` is an `int` other than `bool`."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_scalar(where: str, key: str, value: object) -> None:
    is_scalar = isinstance(value, (str, bool, int)) or is_number(value)
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
