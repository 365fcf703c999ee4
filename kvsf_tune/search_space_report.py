"""The `kvsf-tune check-space` report of a valid search space: each domain and the grid size.

`space_text` is the plain-text report and `space_json` the `--json` object. Both read a
`SearchSpace` that `search_space.load_space` has already checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvsf_tune.search_space_entry import HyperparameterSpec, show

if TYPE_CHECKING:
    from kvsf_tune.search_space import SearchSpace


def space_json(space: SearchSpace) -> dict:
    """Return the space as a JSON-ready dict: path, description, each hyperparameter's domain, grid size."""
    domains = space.domains()
    hyperparameters = {}
    for entry in space.entries:
        extra = {key: entry.arguments[key] for key in ("step", "sampling", "default") if key in entry.arguments}
        condition = {"parent_name": entry.parent_name, "parent_values": list(entry.parent_values or [])}
        hyperparameters[entry.name] = {**domains[entry.name], **extra, **(condition if entry.parent_name else {})}
    return {
        "path": str(space.path),
        "description": space.description,
        "hyperparameters": hyperparameters,
        "grid_size": space.grid_size(),
    }


def space_text(space: SearchSpace) -> str:
    """Return the report: a header line, one line per hyperparameter, then the grid size."""
    description = f" {space.description}" if space.description else ""
    header = f"{space.path}: valid search space.{description}"
    return "\n".join([header, *_entry_lines(space), grid_line(space.grid_size())])


def grid_line(size: int | None) -> str:
    """Return the line stating the grid size, or why the grid is infinite when `size` is `None`."""
    if size is None:
        return "Grid size: infinite, because a Float entry has no step; --tuner grid needs a step on every Float."
    return f"Grid size: {size} setting{'' if size == 1 else 's'}."


def _entry_lines(space: SearchSpace) -> list[str]:
    domains = space.domains()
    width = max(len(entry.name) for entry in space.entries)
    return [
        f"  {entry.name:<{width}}  {entry.type:<7} {_domain_text(entry, domains[entry.name])}"
        for entry in space.entries
    ]


def _domain_text(entry: HyperparameterSpec, domain: dict) -> str:
    arguments = entry.arguments
    if "values" in domain:
        parts = [", ".join(_shown(value) for value in domain["values"])]
    else:
        parts = [f"{_shown(domain['min_value'])} to {_shown(domain['max_value'])}"]
        if "step" in arguments:
            parts.append(f"step {_shown(arguments['step'])}")
    if arguments.get("sampling", "linear") != "linear":
        parts.append(f"{arguments['sampling']} sampling")
    if "default" in arguments:
        parts.append(f"default {_shown(arguments['default'])}")
    if entry.parent_name is not None:
        parts.append(f"only when {entry.parent_name} is {' or '.join(_shown(v) for v in entry.parent_values)}")
    return "; ".join(parts)


def _shown(value: object) -> str:
    # Strings read better bare (adam, not "adam"), while numbers and lists appear as TOML writes them.
    return value if isinstance(value, str) else show(value)
