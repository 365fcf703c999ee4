"""Search-space files: TOML tables that declare KerasTuner hyperparameters.

Each top-level table of a search-space file declares one hyperparameter, named by the table and
described with KerasTuner's own argument names:

    [learning_rate]
    type = "Float"
    min_value = 0.001
    max_value = 0.3
    sampling = "log"

`load_space` parses and validates a file without importing TensorFlow, Keras or KerasTuner, so
checking a file stays fast. `SearchSpace.declare` registers the entries on a
`keras_tuner.HyperParameters` and returns the trial's setting.
"""

from __future__ import annotations

import importlib.resources
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kvsf_tune.errors import SearchSpaceError
from kvsf_tune.search_space_entry import (
    SAMPLINGS,
    TYPES,
    HyperparameterSpec,
    int_values,
    listed_values,
    show,
    stepped_values,
)
from kvsf_tune.search_space_file import (
    KNOWN,
    OPTIMIZERS,
    OPTIONAL,
    REQUIRED,
    check_space,
    parse_entry,
    read_document,
    split_document,
)

if TYPE_CHECKING:
    import keras_tuner

__all__ = [
    "DEFAULT_MOMENTUM",
    "KNOWN",
    "MAX_LISTED_VALUES",
    "OPTIMIZERS",
    "OPTIONAL",
    "REQUIRED",
    "SAMPLINGS",
    "TYPES",
    "HyperparameterSpec",
    "SearchSpace",
    "default_space_path",
    "load_default_space",
    "load_space",
    "validate_with_keras_tuner",
]

# A setting's momentum when the entry is absent or inactive, which is what SGD uses by default.
DEFAULT_MOMENTUM = 0.0

# `domains` lists an Int's values one by one up to this count and gives an interval above it.
MAX_LISTED_VALUES = 16


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: the hyperparameters a tuner varies and the ranges it tries.

    Attributes:
        path: The file the space was loaded from.
        entries: The hyperparameters, each parent before the entries conditional on it.
        description: The file's top-level `description`, or `""` when it has none.
    """

    path: Path
    entries: tuple[HyperparameterSpec, ...]
    description: str = ""

    def declare(self, hp: keras_tuner.HyperParameters) -> dict[str, object]:
        """Register every entry on `hp` and return the trial's setting.

        Conditional entries are registered inside `hp.conditional_scope(parent_name,
        parent_values)`, so KerasTuner marks them inactive in trials where the condition fails.

        Args:
            hp: The trial's hyperparameters, as a hypermodel's `build` receives them.

        Returns:
            `{name: value}` for the active entries, with `"momentum"` set to `DEFAULT_MOMENTUM`
            when that entry is inactive or absent. For a space from `load_space` or `with_fixed`,
            it contains every name of `REQUIRED`.
        """
        setting: dict[str, object] = {}
        for entry in self.entries:
            value = _declare_entry(hp, entry)
            if value is not None:
                setting[entry.name] = value

        setting.setdefault("momentum", DEFAULT_MOMENTUM)
        return setting

    def hyperparameters(self) -> keras_tuner.HyperParameters:
        """Return a new `keras_tuner.HyperParameters` with every entry declared at its default."""
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return hp

    def grid_size(self) -> int | None:
        """Count the settings a grid search visits, or return `None` if the grid is infinite.

        The count follows KerasTuner 1.4.8's `GridSearch`: an entry that is inactive adds no
        branches, and an Int with log sampling and no `step` contributes KerasTuner's 10 samples.

        Returns:
            The number of distinct settings, or `None` when a Float entry has no `step`.
        """
        if any(_grid_count(entry) is None for entry in self.entries):
            return None

        size = 1
        for entry in self.entries:
            if entry.parent_name is None:
                size *= self._branch_count(entry)
        return size

    def _branch_count(self, entry: HyperparameterSpec) -> int:
        children = [child for child in self.entries if child.parent_name == entry.name]
        if not children:
            return _grid_count(entry)

        count = 0
        for value in _grid_values(entry):
            branches = 1
            for child in children:
                if value in child.parent_values:
                    branches *= self._branch_count(child)
            count += branches
        return count

    def domains(self) -> dict[str, dict]:
        """Describe each entry's domain for TensorBoard's HParams plugin, in JSON-able form.

        Returns:
            Per entry name, `{"type": ..., "values": [...]}` for a Choice, Boolean, Fixed or an Int
            with at most `MAX_LISTED_VALUES` values, and `{"type": ..., "min_value": ...,
            "max_value": ...}` for a Float or a larger Int. Numbers stay `int` or `float`.
        """
        return {entry.name: _domain(entry) for entry in self.entries}

    def with_fixed(self, name: str, value: object) -> SearchSpace:
        """Return a copy of this space in which the entry `name` is a Fixed `value`.

        The Fixed entry keeps the old entry's condition. An entry conditional on `name` keeps only
        the parent values equal to `value`, and is dropped when none is, because it can never be
        active. The result passes the same checks as a loaded file.

        Raises:
            SearchSpaceError: If the space has no entry `name` or `value` breaks a rule.
        """
        old = next((entry for entry in self.entries if entry.name == name), None)
        if old is None:
            names = ", ".join(entry.name for entry in self.entries)
            raise SearchSpaceError(
                f"{self.path}: cannot fix [{name}] because the space has no such entry. "
                f"Use one of: {names}."
            )

        table = {"type": "Fixed", "value": value}
        if old.parent_name is not None:
            table.update(parent_name=old.parent_name, parent_values=list(old.parent_values))
        fixed = parse_entry(self.path, name, table)

        entries = []
        for entry in self.entries:
            if entry.name == name:
                entries.append(fixed)
            elif entry.parent_name == name:
                entries.extend(_restricted_to(entry, value))
            else:
                entries.append(entry)
        return _validated(self.path, entries, self.description)


def load_space(path: str | os.PathLike) -> SearchSpace:
    """Read and validate a search-space file, without importing TensorFlow, Keras or KerasTuner.

    Args:
        path: The TOML file.

    Returns:
        The validated search space.

    Raises:
        SearchSpaceError: If the file is missing, unreadable, not TOML, or breaks a rule. The
            message is one line naming the file, the key and the value received.
    """
    path = Path(path)
    document = read_document(path)
    description, tables = split_document(path, document)
    entries = [parse_entry(path, name, table) for name, table in tables.items()]
    return _validated(path, entries, description)


def default_space_path(model: str) -> Path:
    """Return the path of the search space shipped for `model`: `search_spaces/<model>.toml`.

    Raises:
        SearchSpaceError: If no default search space exists for `model`.
    """
    path = _shipped_spaces_dir() / f"{model}.toml"
    if not path.is_file():
        from kvsf_tune.data import MODEL_NAMES

        raise SearchSpaceError(
            f"{path}: no default search space for model {show(model)}. "
            f"Use one of: {', '.join(MODEL_NAMES)}, or pass your own search-space file."
        )
    return path


def load_default_space(model: str) -> SearchSpace:
    """Load and validate the search space shipped for `model`."""
    return load_space(default_space_path(model))


def validate_with_keras_tuner(space: SearchSpace) -> None:
    """Declare every entry with KerasTuner, so its own constructors check the arguments too.

    `load_space` checks the same rules without KerasTuner. This function imports it, so call it
    only where loading TensorFlow is acceptable.

    Raises:
        SearchSpaceError: If KerasTuner rejects an entry.
    """
    try:
        space.hyperparameters()
    except (TypeError, ValueError) as error:
        raise SearchSpaceError(
            f"{space.path}: KerasTuner rejected the search space: {error} Fix the entry it names."
        ) from error


# Helpers of SearchSpace.


def _validated(path: Path, entries: list[HyperparameterSpec], description: str) -> SearchSpace:
    check_space(path, entries)

    # KerasTuner needs a parent registered before the entries conditional on it. Only momentum
    # may be conditional and nothing may depend on it, so one level of ordering is enough.
    parents = [entry for entry in entries if entry.parent_name is None]
    children = [entry for entry in entries if entry.parent_name is not None]
    return SearchSpace(path, tuple(parents + children), description)


def _restricted_to(child: HyperparameterSpec, parent_value: object) -> list[HyperparameterSpec]:
    active_for = tuple(value for value in child.parent_values if value == parent_value)
    if not active_for:
        return []
    return [
        HyperparameterSpec(child.name, child.type, child.arguments, child.parent_name, active_for)
    ]


def _grid_values(entry: HyperparameterSpec) -> list | None:
    """Return the values KerasTuner 1.4.8's `GridSearch` visits, or `None` if they are infinite."""
    arguments = entry.arguments
    if entry.type not in ("Int", "Float"):
        return listed_values(entry)
    if entry.type == "Float" and "step" not in arguments:
        return None

    if entry.type == "Float":
        values = stepped_values(arguments)
    elif arguments["sampling"] != "linear" and "step" not in arguments:
        values = _int_log_samples(arguments)
    else:
        values = int_values(entry)

    # The grid starts at the default, which need not be one of the values on the range's grid.
    default = arguments.get("default", arguments["min_value"])
    return values if default in values else [default, *values]


def _grid_count(entry: HyperparameterSpec) -> int | None:
    arguments = entry.arguments
    if entry.type != "Float" or arguments["sampling"] != "linear":
        values = _grid_values(entry)
        return None if values is None else len(values)
    if "step" not in arguments:
        return None

    # Count a linear Float grid without listing it, because a small step can give millions of
    # values. The formula and the float arithmetic are those of `stepped_values`.
    low, high, step = arguments["min_value"], arguments["max_value"], arguments["step"]
    count = int((high - low) // step + 1)
    default = arguments.get("default", low)
    index = round((default - low) / step)
    on_grid = index < count and low + index * step == default
    return count if on_grid else count + 1


def _int_log_samples(arguments: dict) -> list[int]:
    # KerasTuner's grid takes 10 evenly spaced probabilities for an Int with log sampling and no
    # step, then maps each into [min_value, max_value + 1) and truncates it to an integer.
    low, high = arguments["min_value"], arguments["max_value"] + 1
    samples = set()
    for index in range(10):
        probability = index * 0.1 + 0.05
        if arguments["sampling"] == "log":
            value = low * math.pow(high / low, probability)
        else:
            value = high + low - low * math.pow(high / low, 1 - probability)
        samples.add(int(value))
    return sorted(samples)


def _domain(entry: HyperparameterSpec) -> dict:
    if entry.type not in ("Int", "Float"):
        return {"type": entry.type, "values": listed_values(entry)}

    if entry.type == "Int":
        values = int_values(entry)
        if len(values) <= MAX_LISTED_VALUES:
            return {"type": "Int", "values": list(values)}

    low, high = entry.arguments["min_value"], entry.arguments["max_value"]
    return {"type": entry.type, "min_value": low, "max_value": high}


def _declare_entry(hp: keras_tuner.HyperParameters, entry: HyperparameterSpec) -> object:
    declare = getattr(hp, entry.type)

    # Copy lists, because KerasTuner may keep the list it receives.
    arguments = {
        key: list(value) if isinstance(value, list) else value
        for key, value in entry.arguments.items()
    }
    if entry.parent_name is None:
        return declare(entry.name, **arguments)

    with hp.conditional_scope(entry.parent_name, list(entry.parent_values)):
        return declare(entry.name, **arguments)


def _shipped_spaces_dir() -> Path:
    # NOTE: on Python 3.11, `importlib.resources.files` fails with NotADirectoryError for this
    # namespace package under a setuptools editable install, so the source tree is the fallback.
    try:
        resource = importlib.resources.files("search_spaces")
    except (ImportError, OSError):
        resource = None
    if isinstance(resource, Path) and resource.is_dir():
        return resource

    import kvsf_tune

    return Path(kvsf_tune.__file__).parent.parent / "search_spaces"
