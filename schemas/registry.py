"""The one way a part is registered by name (aligners, tasks and their heads, objectives, constraints,
adaptations, dataset reports), and the one error for a name that is not registered.

    ALIGNERS = Registry("aligner", ignore_case=True)
    ALIGNERS.register("eflomal", make_eflomal, "eflomal (in-process)", default=True)
    ALIGNERS.register("fast_align", make_fast_align, "fast_align, both directions", aliases=("fast-align",))
    ALIGNERS["Fast-Align"]     # make_fast_align
    ALIGNERS["x"]              # UnknownNameError: unknown aligner 'x'; choose one of eflomal, fast_align (fast-align)

A registry behaves like a read-only dict from names to values (``in``, ``[]``, ``len``, iteration over the
names in registration order) that also knows each entry's one-line summary and aliases, and a default where
the kind has one. It lives in ``schemas`` because every package may import ``schemas``; it imports nothing but
the standard library and ``schemas.errors``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterator, Mapping, Sequence, TypeVar

from schemas.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, LookupError):
    """A name that no entry of a registry has: the message names the kind, the name given and the known names
    (with their aliases), so a user can pick one without reading the code."""

    def __init__(self, kind: str, name: str, known: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None):
        self.kind, self.name, self.known = kind, name, tuple(known)
        self.aliases = {key: tuple(value) for key, value in (aliases or {}).items() if value}
        choices = [f"{known_name} ({', '.join(self.aliases[known_name])})" if known_name in self.aliases
                   else known_name for known_name in self.known]
        super().__init__(f"unknown {kind} {name!r}; choose one of {', '.join(choices) or 'none (nothing registered)'}")

    def __reduce__(self):
        # The constructor's arguments are not the message, so pickling (Beam workers, multiprocessing) needs them.
        return type(self), (self.kind, self.name, self.known, self.aliases)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered part: its name, what it is (a class, a factory, an instance), a one-line summary for help
    texts and the other spellings that find it."""

    name: str
    value: T
    summary: str
    aliases: tuple[str, ...] = ()


class Registry(Generic[T]):
    """Parts of one kind by name. ``kind`` is the word error messages use ("aligner", "objective", ...).
    ``ignore_case``: names and aliases are found whatever their case (what users type on a command line);
    otherwise a name must be spelled as registered (config values)."""

    def __init__(self, kind: str, ignore_case: bool = False):
        self.kind = kind
        self.ignore_case = ignore_case
        self._entries: dict[str, Entry[T]] = {}
        self._spellings: dict[str, str] = {}  # every name and alias, as looked up -> the registered name
        self._default: str | None = None

    def _key(self, name: str) -> str:
        return name.lower() if self.ignore_case else name

    def register(self, name: str, value: T, summary: str, aliases: Sequence[str] = (), default: bool = False) -> T:
        """Adds ``value`` under ``name`` (and ``aliases``) and returns it. A name or alias already taken, a
        second default, or a summary that is not one line is refused: each is a mistake in the code."""
        if not summary.strip() or "\n" in summary:
            raise ValueError(f"{self.kind} {name!r}: the summary must be one non-empty line, got {summary!r}")
        if isinstance(aliases, str):
            raise TypeError(f"{self.kind} {name!r}: aliases must be a sequence of names, not the string {aliases!r}")
        spellings = [self._key(spelling) for spelling in (name, *aliases)]
        for spelling in spellings:
            if spelling in self._spellings:
                raise ValueError(f"{self.kind} {spelling!r} is already registered (as "
                                 f"{self._spellings[spelling]!r}); cannot register it for {name!r}")
        if len(set(spellings)) != len(spellings):
            raise ValueError(f"{self.kind} {name!r}: a spelling is given twice in {spellings}")
        if default and self._default is not None:
            raise ValueError(f"{self.kind} {name!r} cannot be the default: {self._default!r} already is")
        self._entries[name] = Entry(name, value, summary, tuple(aliases))
        self._spellings.update((spelling, name) for spelling in spellings)
        if default:
            self._default = name
        return value

    # ---- lookup ---------------------------------------------------------------------------------------------

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` spells (itself, or an alias; case ignored where the registry
        ignores it); ``UnknownNameError`` listing the known names otherwise."""
        found = self._spellings.get(self._key(name)) if isinstance(name, str) else None
        if found is None:
            raise UnknownNameError(self.kind, name, self.names(),
                                   {entry.name: entry.aliases for entry in self._entries.values()})
        return found

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.canonical(name)]

    def __getitem__(self, name: str) -> T:
        return self.entry(name).value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._spellings

    @property
    def default(self) -> str:
        """The name registered with ``default=True``; LookupError where the kind has none."""
        if self._default is None:
            raise LookupError(f"no {self.kind} is registered as the default")
        return self._default

    @property
    def has_default(self) -> bool:
        return self._default is not None

    # ---- listing (registration order) -----------------------------------------------------------------------

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def items(self) -> Iterator[tuple[str, T]]:
        return ((name, entry.value) for name, entry in self._entries.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
