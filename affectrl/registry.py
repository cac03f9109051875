"""The one registry mechanism for swappable parts chosen by name (datasets, encoders, fusions,
context models, graphs, corruptions, noise protocols, rewards, commands).

A `Registry` is a read-only mapping name -> object with `register` (also a decorator). A
built-in part that lives in a higher layer than the registry (the fusion agent, the learned
graphs, the command modules) is registered lazily by module path: it is imported when it is
first looked up, so the registry lists it without importing it.

    FUSIONS = Registry("fusion")

    @FUSIONS.register("toy")
    class ToyFusion(Fusion): ...

    FUSIONS["toy"]          # the class; an unknown name is an error listing the known ones
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no part of that kind is registered under (a KeyError for mappings, a ValueError
    for config checks)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """Named parts of one kind (e.g. "fusion"), in registration order."""

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, T] | None = None,
        hint: str = "",
        default: str | None = None,
        supplied: tuple[str, ...] = (),
    ):
        """kind: what the parts are, for messages; entries: initial name -> part; hint: what an
        error about an unknown name adds after the known names (e.g. "or byo:PATH"); default:
        the part a spec without a name means; supplied: the constructor arguments the toolkit
        fills itself (sizes, speakers), which a config does not set."""
        self.kind, self.hint, self.default, self.supplied = kind, hint, default, supplied
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, tuple[str, str | None]] = {}
        self._order: list[str] = []  # registration order, however the entries are loaded
        self._descriptions: dict[str, str] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(
        self, name: str, entry: T | None = None, *, description: str | None = None
    ) -> Any:
        """Make `entry` available under `name`; without `entry`, a decorator. Registering a
        taken name again is an error (unless it is the same object)."""

        def add(obj: T) -> T:
            taken = self._entries.get(name)
            if (taken is not None and taken is not obj) or name in self._lazy:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if name not in self._order:
                self._order.append(name)
            self._entries[name] = obj
            if description:
                self._descriptions[name] = description
            return obj

        return add if entry is None else add(entry)

    def register_lazy(
        self, name: str, module: str, attr: str | None = None, description: str | None = None
    ) -> None:
        """Register `module.attr` (the module itself when attr is None) under `name`, imported
        on first lookup."""
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._lazy[name] = (module, attr)
        self._order.append(name)
        if description:
            self._descriptions[name] = description

    def unregister(self, name: str) -> None:
        """Remove a part (tests that register a toy part clean up with this)."""
        self._entries.pop(name, None)
        self._lazy.pop(name, None)
        self._descriptions.pop(name, None)
        if name in self._order:
            self._order.remove(name)

    def __getitem__(self, name: str) -> T:
        if name in self._lazy:
            module, attr = self._lazy.pop(name)
            loaded = importlib.import_module(module)  # may register `name` itself
            if name not in self._entries:
                self._entries[name] = loaded if attr is None else getattr(loaded, attr)
        if name not in self._entries:
            known = ", ".join(self)
            hint = f" {self.hint}" if self.hint else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}{hint}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def describe(self, name: str) -> str:
        """The part's one-line description: the one registered, else its docstring's first line."""
        if name in self._descriptions:
            return self._descriptions[name]
        doc = getattr(self[name], "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self)})"

    # one registry is one object (a mapping would compare by contents and not hash): it may
    # mark a type, as in Annotated[dict, GRAPHS]
    __eq__ = object.__eq__
    __hash__ = object.__hash__


def factory(cls: Callable[..., T], **fixed: Any) -> Callable[..., T]:
    """`cls` with some keyword arguments fixed, registrable under its own name (e.g. the
    "attention" fusion is WeightedFusion with weighting="attention"); keeps cls's signature and
    docstring for option checks and docs."""
    import functools

    made = functools.partial(cls, **fixed)
    made.__doc__ = cls.__doc__
    return made
