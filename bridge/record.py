"""Value records without `dataclasses`: the base of the read records a command loads.

Why not `@dataclass`: it imports `inspect` (with `ast`, `dis`, `tokenize`: ~6 ms a
process) and compiles each generated `__init__`/`__eq__`/`__repr__` when the class
is defined (Python 3.11: ~0.6 ms a class), and `tuiclient list` defines some thirty
of them before it reads a row (issue 22, row 2). A record here is a plain class
with `__slots__` and a hand-written `__init__`; its fields are its annotations, in
the order written (`_fields`; the slots are the same names, in any order); this base
gives it what `@dataclass(eq=True)` would: `__eq__` over the fields (those in
`_compare` when a class names fewer), `__repr__`, `__hash__` and immutability for
a `FrozenRecord`, pickling, and `replace()`.

The module functions of `dataclasses` (`replace`, `asdict`, `fields`,
`is_dataclass`) keep working on them: the first time one asks a record class for
`__dataclass_fields__`, a twin dataclass with the same field names is made (and
`dataclasses` imported then, by the caller that uses it anyway) and its fields
are lent to the record class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataclasses import Field
    from typing import Any, ClassVar, Self

# A frozen record's `__init__` sets its fields with this (its own `__setattr__` refuses).
setfield = object.__setattr__


class _DataclassFields:
    """`cls.__dataclass_fields__`, made on first use (see the module's doc)."""

    def __get__(self, obj: object, owner: type[Record]) -> dict[str, Any]:
        import dataclasses

        twin = dataclasses.make_dataclass(owner.__name__, list(owner._fields))
        found: dict[str, Any] = twin.__dataclass_fields__  # type: ignore[attr-defined]  # made by make_dataclass
        type.__setattr__(owner, "__dataclass_fields__", found)  # no second twin
        return found


class Record:
    """A mutable record: its fields are its annotations (see the module's doc)."""

    __slots__: tuple[str, ...] = ()
    # The fields in their order (set for each class from its annotations), and the
    # ones `==` compares when not all of them (a class sets it).
    _fields: ClassVar[tuple[str, ...]] = ()
    _compare: ClassVar[tuple[str, ...] | None] = None
    if TYPE_CHECKING:  # what `dataclasses.replace` and the others ask of their argument
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    else:
        __dataclass_fields__ = _DataclassFields()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        written = vars(cls).get("__annotations__", {})  # not inspect.get_annotations: no `inspect`
        cls._fields = tuple(name for name, kind in written.items()
                            if not str(kind).startswith("ClassVar"))
        if set(cls._fields) != set(cls.__slots__):
            raise TypeError(f"{cls.__name__}: its __slots__ are not its fields")

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def _compared(self) -> tuple[Any, ...]:
        names = self._compare or self._fields
        return tuple([getattr(self, name) for name in names])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (as `dataclasses.replace`)."""
        values = dict(zip(self._fields, self._values(), strict=True))
        values.update(changes)
        return type(self)(**values)

    def asdict(self) -> dict[str, Any]:
        """The fields by name, one level deep (nested records stay records)."""
        return dict(zip(self._fields, self._values(), strict=True))


class FrozenRecord(Record):
    """An immutable, hashable record (as `@dataclass(frozen=True)`): its `__init__`
    sets the fields with `object.__setattr__`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __hash__(self) -> int:  # type: ignore[override]  # hashable, as a frozen dataclass
        return hash(self._compared())
