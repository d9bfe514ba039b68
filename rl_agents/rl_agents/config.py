"""Attribute-style configuration, as the `environments` package's environments take it.

    cfg = Config({"episode_steps": 50, "arm": {"links": [0.5, 0.4]}})
    cfg.episode_steps, cfg.arm.links, cfg["episode_steps"], cfg.get("seed", 0)

Nested mappings become Configs. `_describe(key, instanceof=..., default=...,
docstring=...)` declares a key (its type is checked when set); `_update(other,
overwrite=False)` fills in what is missing (how an Environment completes its
cfg from the class's `defcfg`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_MISSING = object()


class ConfigKeyError(KeyError, AttributeError):
    """A key the config does not have (a KeyError, as scicfg's; an AttributeError, so
    hasattr() and getattr(cfg, key, default) work)."""


class Config:
    """A mapping read and written as attributes; see the module docstring."""

    def __init__(self, values: Mapping[str, Any] | Config | None = None, **kwargs: Any) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_descriptions", {})
        if isinstance(values, Config):
            values = values._as_dict()
        for key, value in {**dict(values or {}), **kwargs}.items():
            self[key] = value

    # --- access ---------------------------------------------------------------
    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        values = object.__getattribute__(self, "_values")
        if key in values:
            return values[key]
        raise ConfigKeyError(f"config has no key {key!r}; keys: {sorted(values)}")

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __getitem__(self, key: str) -> Any:
        head, _, rest = key.partition(".")
        if head not in self._values:
            raise ConfigKeyError(key)
        value = self._values[head]
        return value[rest] if rest else value

    def __setitem__(self, key: str, value: Any) -> None:
        head, _, rest = key.partition(".")
        if rest:
            child = self._values.get(head)
            if not isinstance(child, Config):
                child = self._values[head] = Config()
            child[rest] = value
            return
        if isinstance(value, Mapping):
            value = Config(value)
        description = self._descriptions.get(head)
        if description is not None and description["instanceof"] is not None \
                and value is not None and not isinstance(value, description["instanceof"]):
            raise TypeError(f"config key {head!r} must be {description['instanceof']}, "
                            f"got {value!r}")
        self._values[head] = value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    _get = get

    def keys(self) -> list[str]:
        return list(self._values)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._values.items())

    # --- declaring and merging -------------------------------------------------
    def _describe(self, key: str, instanceof: type | tuple[type, ...] | None = None,
                  docstring: str = "", default: Any = _MISSING) -> None:
        self._descriptions[key] = {"instanceof": instanceof, "docstring": docstring}
        if default is not _MISSING and key not in self._values:
            self[key] = default

    def _docstring(self, key: str) -> str:
        return self._descriptions.get(key, {}).get("docstring", "")

    def _update(self, other: Mapping[str, Any] | Config, overwrite: bool = True) -> None:
        """Take other's values (and descriptions); keep ours unless `overwrite`."""
        if isinstance(other, Config):
            for key, description in other._descriptions.items():
                self._descriptions.setdefault(key, dict(description))
            other_items = other._values.items()
        else:
            other_items = dict(other).items()
        for key, value in other_items:
            mine = self._values.get(key, _MISSING)
            if isinstance(mine, Config) and isinstance(value, (Config, Mapping)):
                mine._update(value, overwrite=overwrite)
            elif mine is _MISSING or overwrite:
                self[key] = value._copy() if isinstance(value, Config) else value

    def _copy(self) -> Config:
        copy = Config(self._as_dict())
        object.__getattribute__(copy, "_descriptions").update(
            {k: dict(v) for k, v in self._descriptions.items()})
        return copy

    def _as_dict(self) -> dict[str, Any]:
        return {k: v._as_dict() if isinstance(v, Config) else v for k, v in self._values.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self._as_dict() == other._as_dict()
        if isinstance(other, Mapping):
            return self._as_dict() == dict(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Config({self._as_dict()!r})"
