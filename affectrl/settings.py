"""Typed settings: one dataclass per config section, checked before anything runs, and the
reference documentation generated from them (docs/CONFIG.md).

A section is a dataclass deriving from `Section` whose fields are declared with `setting`:

    @dataclass(frozen=True)
    class TrainSettings(Section):
        epochs: int = setting(55, "passes over the training split", min=1, max=100_000)
        scheduler: Literal["plateau", "none"] | None = setting("plateau", "learning-rate schedule")

`TrainSettings.parse(mapping, "train")` checks every key (an unknown one is an error naming the
close match), every value against the field's type (int, float, bool, str, None, Literal
choices, list[...], tuple[...], dict[str, ...], a nested Section) and bounds, and returns the
instance. Swappable parts (`model.fusion`, `model.context`, its `graph`) are `component`
fields: their options are read from the part's constructor (annotated arguments, an `Args:`
docstring section) in its registry, so a new part is documented and checked by declaring its
arguments. Adding a setting is adding a field; docs/CONFIG.md is regenerated from the fields
(`affectrl config --reference`).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from .config import reads_as_number
from .registry import Registry

REQUIRED = dataclasses.MISSING


def setting(
    default: Any = REQUIRED,
    doc: str = "",
    *,
    min: float | None = None,  # noqa: A002 - the natural name in a settings declaration
    max: float | None = None,  # noqa: A002
    check: Callable[[Any], Any] | None = None,
    message: str | None = None,
    yaml: bool = True,
) -> Any:
    """A section field: its default (mutable defaults are copied), its meaning, bounds
    (inclusive), an extra `check` (falsy: refused; or it raises ValueError explaining why), the
    error `message` to give instead of the generic one, and whether it is a YAML key (False:
    set by the toolkit, e.g. the run's seed)."""
    meta = {"doc": doc, "min": min, "max": max, "check": check, "message": message, "yaml": yaml}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda d=default: _copy(d), metadata=meta)
    if isinstance(default, type) and issubclass(default, Section):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def component(registry: Registry, doc: str, aliases: Mapping[str, str] | None = None) -> Any:
    """A swappable part chosen by name: a mapping {name: <registered name>, <option>: ...},
    by default the registry's default part; `aliases`: names built from another part's options
    (name -> that part)."""
    meta = {"doc": doc, "registry": registry, "aliases": dict(aliases or {}), "yaml": True}
    return dataclasses.field(default_factory=lambda: {"name": registry.default}, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Section:
    """Base of the settings dataclasses (see the module docstring)."""

    TITLE: ClassVar[str] = ""  # one line for the reference documentation

    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)]

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.fields())

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, where: str = "") -> Section:
        """The section from a config mapping (None: every default), checked; errors name the
        setting (`where` is the section's dotted path, "" at the top level)."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            label = f"`{where}:`" if where else "the config"
            raise ValueError(
                f"config section {label} must be a mapping (or null for the defaults); "
                f"got {data!r}"
            )
        known = cls.keys()
        for key in data:
            if key not in known:
                path = f"{where}.{key}" if where else str(key)
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                place = f"`{where}:`" if where else "the top level"
                raise ValueError(
                    f"unknown config setting `{path}`{hint} (known in {place}: "
                    f"{', '.join(known)})"
                )
        hints = typing.get_type_hints(cls, include_extras=True)
        values = {}
        for f in cls.fields():
            path = f"{where}.{f.name}" if where else f.name
            if f.name not in data:
                if f.default is REQUIRED and f.default_factory is REQUIRED:
                    example = f.metadata.get("message") or f.metadata["doc"]
                    raise ValueError(f"config has no `{path}:` ({example})")
                continue
            if "registry" in f.metadata:
                meta = f.metadata
                values[f.name] = check_component(
                    meta["registry"], data[f.name], path, meta["aliases"]
                )
            else:
                values[f.name] = check_value(hints[f.name], data[f.name], path, f.metadata)
        made = cls(**values)
        made.check()
        return made

    def check(self) -> None:
        """Checks across fields, after each field is checked (override; raise ValueError)."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The section's YAML-able defaults (nested sections as mappings)."""
        out = {}
        for f in cls.fields():
            if f.default is not REQUIRED:
                out[f.name] = f.default
            elif f.default_factory is not REQUIRED:
                value = f.default_factory()
                out[f.name] = value.defaults() if isinstance(value, Section) else value
        return out


# ---------------------------------------------------------------------------------- values


def check_value(hint: Any, value: Any, where: str, meta: Mapping[str, Any] | None = None) -> Any:
    """`value` checked against the type `hint` and the field's bounds; returns it (a nested
    Section parsed, a list given for a tuple converted)."""
    meta = meta or {}
    custom, low, high = meta.get("message"), meta.get("min"), meta.get("max")
    label = _label(where)
    try:
        value = _typed(hint, value, where)
    except ValueError as exc:  # a plain ValueError from here on: the setting is wrong
        if custom:
            raise ValueError(f"{label} {custom}, got {value!r}") from None
        if low is not None:
            raise ValueError(_bound_error(hint, value, label, low)) from None
        raise ValueError(str(exc)) from None
    if low is not None and isinstance(value, (int, float)) and not value >= low:
        refused = f"{label} {custom}, got {value!r}" if custom else None
        raise ValueError(refused or _bound_error(hint, value, label, low))
    if high is not None and isinstance(value, (int, float)) and not value <= high:
        raise ValueError(f"{label} must be at most {high} (a typo?), got {value!r}")
    check = meta.get("check")
    if check is not None and value is not None:
        try:
            ok = check(value)
        except ValueError as exc:  # a check that explains itself (e.g. an unknown protocol)
            text = str(exc)
            raise ValueError(text if text.startswith(label) else f"{label}: {text}") from None
        if not ok:
            raise ValueError(f"{label} {custom or 'is not valid'}, got {value!r}")
    return value


def _label(where: str) -> str:
    """How a message names a setting: `dataset:` at the top level, train.epochs below it."""
    return f"`{where}:`" if where and "." not in where and "[" not in where else where


def _bound_error(hint: Any, value: Any, label: str, low: float) -> str:
    return f"{label} must be {_article(hint)} >= {low}, got {value!r}{_text_hint(value)}"


def _article(hint: Any) -> str:
    return "an integer" if int in _members(hint) and float not in _members(hint) else "a number"


def _text_hint(value: Any) -> str:
    return " (YAML reads 1e-4 as text: write 1.0e-4)" if reads_as_number(value) else ""


def _members(hint: Any) -> tuple:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _members(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(m for a in typing.get_args(hint) for m in _members(a))
    return (hint,)


class _Mismatch(ValueError):
    """A value not of the expected shape (so a union may try its next member)."""


def _typed(hint: Any, value: Any, where: str) -> Any:
    """The core type check (see check_value): `_Mismatch` when the value is not of the hint's
    shape, another ValueError (naming the inner setting) when something inside it is wrong."""
    label = _label(where)
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        registry = next((e for e in extras if isinstance(e, Registry)), None)
        if registry is not None and (value is None or isinstance(value, Mapping)):
            return value if value is None else check_component(registry, value, where)
        return _typed(base, value, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _typed(option, value, where)
            except _Mismatch:
                continue  # not this member's shape; a bad value inside it is raised as is
        raise _Mismatch(f"{label} must be {describe_type(hint)}, got {value!r}{_text_hint(value)}")
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and not (isinstance(value, bool) and True not in choices):
            return value
        listed = ", ".join(f"`{c}`" for c in choices)
        raise _Mismatch(f"{label} must be one of {listed}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"{label} must be a list ({describe_type(hint)}), got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_typed(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch(f"{label} must be a mapping, got {value!r}")
        args = typing.get_args(hint)
        if args:
            for k, v in value.items():
                _typed(args[0], k, f"{where} key")
                _typed(args[1], v, f"{where}.{k}")
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, Section):
        return hint.parse(value, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(f"{label} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch(f"{label} must be an integer, got {value!r}{_text_hint(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise _Mismatch(f"{label} must be a number, got {value!r}{_text_hint(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(f"{label} must be a string, got {value!r}")
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _Mismatch(f"{label} must be {describe_type(hint)}, got {value!r}")
    return value


def describe_type(hint: Any) -> str:
    """A short human reading of a type hint, for errors and docs."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        registry = next((e for e in extras if isinstance(e, Registry)), None)
        return f"{registry.kind} (by name)" if registry is not None else describe_type(base)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(hint))
    if origin is Literal:
        return " | ".join(str(c) for c in typing.get_args(hint))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"list of {describe_type(args[0])}" if args else "list"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"mapping {describe_type(key)} -> {describe_type(value)}"
    if isinstance(hint, type) and issubclass(hint, Section):
        return "mapping (section)"
    names = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


# ------------------------------------------------------------------------------ components


def component_options(factory: Any, supplied: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
    """The options a registered part takes from a config: its constructor's keyword arguments
    minus the `supplied` ones (and those a registered factory fixes), following `**kwargs` to
    the base class that receives them."""
    fixed = getattr(factory, "keywords", {}) or {}
    cls = getattr(factory, "func", factory)
    options: dict[str, inspect.Parameter] = {}
    for owner in (cls.__mro__ if isinstance(cls, type) else (cls,)):
        init = owner.__init__ if isinstance(owner, type) else owner
        if isinstance(owner, type) and "__init__" not in vars(owner):
            continue
        if owner is object:
            break
        params = inspect.signature(init).parameters
        hints = typing.get_type_hints(init, include_extras=True)
        more = False
        for name, param in params.items():
            if param.kind is param.VAR_KEYWORD:
                more = True
            elif param.kind is not param.VAR_POSITIONAL and name != "self":
                if name not in supplied and name not in fixed and name not in options:
                    options[name] = param.replace(annotation=hints.get(name, Any))
        if not more:
            break
    return options


def check_component(
    registry: Registry, spec: Any, where: str, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A {name, options...} mapping checked against the part registered under `name`."""
    aliases = aliases or {}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping such as {{name: ...}}, got {spec!r}")
    name = spec.get("name", registry.default)
    if name is None:
        return dict(spec)  # no default part: its options are checked when it is built
    if name not in registry and name not in aliases:
        known = ", ".join([*registry, *aliases])
        raise ValueError(f"unknown {registry.kind} {name!r} ({where}); known: {known}")
    options = component_options(registry[aliases.get(name, name)], registry.supplied)
    for key, value in spec.items():
        if key == "name":
            continue
        if key not in options:
            raise ValueError(
                f"{where} {name!r} does not take an option given in the config ({key!r}); "
                f"its options: {', '.join(options) or 'none'}"
            )
        hint = options[key].annotation
        check_value(hint, value, f"{where}.{key}")
    return dict(spec)


def option_docs(obj: Any) -> dict[str, str]:
    """name -> meaning from the `Args:` sections of a part's docstrings, its own first, then its
    base classes' (Google style; a line `a, b: text` documents several)."""
    cls = getattr(obj, "func", obj)
    out: dict[str, str] = {}
    for owner in cls.__mro__ if isinstance(cls, type) else (cls,):
        doc = inspect.cleandoc(owner.__doc__ or "")
        match = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", doc, re.M)
        if not match:
            continue
        own: dict[str, str] = {}
        names: list[str] = []
        for line in match.group(1).splitlines():
            head = re.match(r"^ {4}([\w, ]+):\s*(.*)$", line)
            if head:
                names = [n.strip() for n in head.group(1).split(",")]
                own.update(dict.fromkeys(names, head.group(2).strip()))
            elif line.strip() and names:
                own.update({n: f"{own[n]} {line.strip()}" for n in names})
        for name, text in own.items():
            out.setdefault(name, text)
    return out


# ----------------------------------------------------------------------------- reference


def _default_text(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and (value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5)):
        return f"{value:.1e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_default_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_default_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _bounds(meta: Mapping[str, Any]) -> str:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def reference_rows(section: type[Section], where: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every setting of a section, nested sections flattened;
    component fields give one row for `name` (their options are listed per part)."""
    rows = []
    hints = typing.get_type_hints(section, include_extras=True)
    for f in section.fields():
        path = f"{where}.{f.name}" if where else f.name
        meta = f.metadata
        if "registry" in meta:
            registry = meta["registry"]
            default = f.default_factory()["name"]
            rows.append((f"{path}.name", f"{registry.kind} name", default, meta["doc"]))
            continue
        hint = hints[f.name]
        if isinstance(hint, type) and issubclass(hint, Section):
            rows += reference_rows(hint, path)
            continue
        nested = [m for m in _members(hint) if isinstance(m, type) and issubclass(m, Section)]
        if nested:  # an optional section: a row for it, then its settings
            rows.append((path, "mapping or null", _default_text(f.default), meta["doc"]))
            rows += reference_rows(nested[0], path)
            continue
        default = f.default if f.default is not REQUIRED else (
            f.default_factory() if f.default_factory is not REQUIRED else REQUIRED
        )
        kind = describe_type(hint) + _bounds(meta)
        rows.append((path, kind, _default_text(default), meta["doc"]))
    return rows


def component_rows(registry: Registry) -> list[tuple[str, str, str, str, str]]:
    """(part, option, type, default, meaning) for every part of a registry."""
    rows = []
    for name in registry:
        factory = registry[name]
        docs = option_docs(factory)
        options = component_options(factory, registry.supplied)
        if not options:
            rows.append((name, "—", "", "", registry.describe(name)))
        for option, param in options.items():
            default = REQUIRED if param.default is param.empty else param.default
            rows.append(
                (
                    name,
                    option,
                    describe_type(param.annotation),
                    _default_text(default),
                    docs.get(option, ""),
                )
            )
    return rows


def finite_positive(value: Any) -> bool:
    """For `check=`: a finite number > 0."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
