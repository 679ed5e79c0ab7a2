"""Fields and arguments the connector reads that a W&B server may lack, and what a sync does without them.

The connector asks for a few things none of the wandb 0.31 client's own documents ask for (`OPTIONALS`). W&B cloud
has them, but a dedicated or self-managed server of an older version may reject a query naming one, and every sync
would then fail on its runs listing. So the documents in `queries.py` mark each such element with a client-side
directive, `host @optional(name: "Run.host")`, which never reaches the server: `strip` removes every marker and,
for each element the server lacks, the marked field (a field optional: the element itself, or a field that asks for
nothing else, such as `usedBy { totalCount }`) or the arguments the name lists (an argument optional,
`Sweep.runs(order:)`). An operation marked as a whole means nothing without its element: it is not sent (`Lacking`),
and its caller does without its answer.

A server rejects an element by name in its validation error (`rejected`); the client then drops that element for
the rest of the sync, warns once what stays empty, and sends the same call again without it (`OptionalFields`). The
sync keeps the dropped names in its state until the next reconcile, which asks the server again.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from fivetran_connector_sdk import Logging as log
from graphql import (
    REMOVE,
    SKIP,
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    StringValueNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from .errors import SourceError

MARKER = "optional"


@dataclass(frozen=True)
class OptionalElement:
    """A field (`Type.field`) or a group of arguments (`Type.field(a:, b:)`) W&B may lack: the columns that stay
    empty without it (`table.column`) and what else a sync does without it."""

    name: str
    empty: tuple[str, ...] = ()
    otherwise: str = ""

    @property
    def parts(self) -> tuple[str, str, tuple[str, ...]]:
        """The type, the field and the arguments the name says (none for a field optional)."""
        owner, field, arguments = re.fullmatch(r"(\w+)\.(\w+)(?:\((.*)\))?", self.name).groups()
        return owner, field, tuple(a.strip().rstrip(":") for a in (arguments or "").split(",") if a.strip())

    @property
    def consequence(self) -> str:
        """What the user loses, in words: the empty columns by table, then the rest."""
        tables: dict[str, list[str]] = {}
        for column in self.empty:
            table, _, name = column.partition(".")
            tables.setdefault(table, []).append(name)
        said = [
            f"the {table} column{'s' if len(names) > 1 else ''} {_and(names)} stay{'' if len(names) > 1 else 's'} empty"
            for table, names in tables.items()
        ]
        return "; ".join([*said, *([self.otherwise] if self.otherwise else [])])


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


OPTIONALS: dict[str, OptionalElement] = {
    element.name: element
    for element in (
        OptionalElement(
            "Run.runInfo",
            tuple(
                f"run_fields.{c}"
                for c in (
                    *("gpu_type", "cpu_count", "os", "python_version", "program", "code_path", "args", "executable"),
                    "git_remote",
                )
            ),
            "gpu_count comes from the system metrics' GPU keys and git_commit from the run's commit",
        ),
        OptionalElement("Run.host", ("run_fields.host",)),
        OptionalElement(
            "Run.updatedAt",
            ("run_fields.updated_at",),
            "a run's changes are told by its heartbeatAt alone, so an edit that moves only its updatedAt (a summary "
            "updated after the run ended) reaches the warehouse at the next reconcile",
        ),
        OptionalElement(
            "RunConnection.totalCount",
            (),
            "a run that starts using an old artifact version reaches artifact_lineage at the next reconcile instead "
            "of the next sync",
        ),
        OptionalElement(
            "Artifact.usedBy(first:, after:)",
            (),
            "a version's users beyond those W&B's first answer lists cannot be paged, so their input edges are "
            "missing from artifact_lineage",
        ),
        OptionalElement("Sweep.runs(order:)", ("sweeps.best_run_id", "sweeps.best_metric_value")),
    )
}


class Lacking(SourceError):
    """A call not sent: its document needs an element the server lacks (`name`); the caller does without it."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


class Rejected(Exception):
    """The server rejected optional elements the document marks (name → the server's words): drop them and send
    the call again."""

    def __init__(self, names: dict[str, str]):
        super().__init__(", ".join(names))
        self.names = names


@dataclass(frozen=True)
class Prepared:
    """What is sent for a document: its text (None: its operation needs the dropped elements in `needs` and is not
    sent), the optional elements it marks that the server may still have (`asks`) and those it left out
    (`left_out`), and its declared variables (None: sent as written, with every variable the caller gives)."""

    text: str | None
    asks: frozenset[str] = frozenset()
    left_out: frozenset[str] = frozenset()
    variables: frozenset[str] | None = None
    needs: frozenset[str] = frozenset()


def strip(document: str, dropped: frozenset[str]) -> Prepared:
    """The document as sent to a server that lacks `dropped`. A document without markers is sent as written (and
    kept out of the cache: the history documents vary with the number of runs they read)."""
    if "@" + MARKER not in document:
        return Prepared(document)
    return _strip(document, dropped)


@functools.lru_cache(maxsize=128)
def _strip(document: str, dropped: frozenset[str]) -> Prepared:
    """`strip` for a marked document; cached, so it costs a lookup per request."""
    stripper = _Stripper(dropped)
    stripped = visit(parse(document), stripper)
    stripped = _without_unused_variables(stripped)
    marks = frozenset(stripper.marks)
    declared = frozenset(
        definition.variable.name.value
        for operation in stripped.definitions
        if isinstance(operation, OperationDefinitionNode)
        for definition in operation.variable_definitions or ()
    )
    text = None if stripper.needs else print_ast(stripped)
    return Prepared(text, marks - dropped, marks & dropped, declared, frozenset(stripper.needs))


class _Stripper(Visitor):
    """Strips every `@optional` and, for the dropped elements, the marked field or its arguments."""

    def __init__(self, dropped: frozenset[str]):
        super().__init__()
        self.dropped = dropped
        self.marks: set[str] = set()
        self.needs: set[str] = set()

    def leave_operation_definition(self, node: OperationDefinitionNode, *_: object) -> OperationDefinitionNode:
        self.needs.update(name for name in self._unmark(node) if name in self.dropped)
        return node

    def leave_field(self, node: FieldNode, *_: object) -> FieldNode | object:
        for name in self._unmark(node):
            if name not in self.dropped:
                continue
            arguments = OPTIONALS[name].parts[2]
            if not arguments:
                return REMOVE
            node.arguments = tuple(a for a in node.arguments or () if a.name.value not in arguments)
        if node.selection_set is not None and not node.selection_set.selections:
            raise ValueError(f"no field of '{node.name.value}' would be left: mark the field itself optional")
        return node

    def _unmark(self, node: FieldNode | OperationDefinitionNode) -> list[str]:
        """The names of the node's `@optional` markers, which are taken off it."""
        names, kept = [], []
        for directive in node.directives or ():
            if directive.name.value != MARKER:
                kept.append(directive)
                continue
            values = [a.value for a in directive.arguments or () if a.name.value == "name"]
            if len(values) != 1 or not isinstance(values[0], StringValueNode) or values[0].value not in OPTIONALS:
                raise ValueError(f"@{MARKER} needs name: one of {sorted(OPTIONALS)}")
            names.append(values[0].value)
        node.directives = tuple(kept)
        self.marks.update(names)
        return names


def _without_unused_variables(document: DocumentNode) -> DocumentNode:
    """GraphQL rejects a declared variable no field uses: drop the ones a stripped field or argument used."""
    used: set[str] = set()

    class Uses(Visitor):
        def enter_variable_definition(self, *_: object) -> object:
            return SKIP

        def enter_variable(self, node, *_: object) -> None:
            used.add(node.name.value)

    visit(document, Uses())
    for operation in document.definitions:
        if isinstance(operation, OperationDefinitionNode):
            definitions = operation.variable_definitions or ()
            operation.variable_definitions = tuple(d for d in definitions if d.variable.name.value in used)
    return document


# A server's words for an element it does not have: graphql-core's and graphql-js' (`'host'` or `"host"`, an
# argument's field as `Type.field`) and graph-gophers' (`on field "runs" of type "Sweep"`).
_UNKNOWN_FIELD = re.compile(r"""Cannot query field ["'](\w+)["'] on type ["'](\w+)["']""")
_UNKNOWN_ARGUMENT = re.compile(
    r"""Unknown argument ["'](\w+)["'] on field ["'](?:(\w+)\.)?(\w+)["'](?: of type ["'](\w+)["'])?"""
)


def rejected(text: str) -> dict[str, str]:
    """The optional elements a server's error names as unknown (wandb-core joins several errors in one text), each
    with the server's words; any other error, or an unknown element that is not optional, names none."""
    unknown = [(m[0], m[2], m[1], None) for m in _UNKNOWN_FIELD.finditer(text)]
    unknown += [(m[0], m[2] or m[4], m[3], m[1]) for m in _UNKNOWN_ARGUMENT.finditer(text)]
    found = {}
    for words, owner, field, argument in unknown:
        for name, optional in OPTIONALS.items():
            o_owner, o_field, arguments = optional.parts
            if (o_owner, o_field) == (owner, field) and (argument in arguments if argument else not arguments):
                found[name] = words
    return found


class OptionalFields:
    """What one server lacks, for one sync: the client's documents are stripped of it, and each element it lacks is
    named in one warning (when found) or one info line (when remembered from an earlier sync). Worker threads share
    it: its sets are replaced whole, under a lock, never changed in place."""

    def __init__(self, where: str):
        self.where = where
        self.dropped: frozenset[str] = frozenset()
        self._told: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def remember(self, names: Iterable[str]) -> None:
        """Start from what an earlier sync found the server lacks (names this version no longer marks are
        forgotten)."""
        with self._lock:
            self.dropped = frozenset(name for name in names if name in OPTIONALS)

    @property
    def lacking(self) -> list[str]:
        """What the server lacks, for the state."""
        return sorted(self.dropped)

    def prepare(self, document: str, what: str) -> Prepared:
        """The document to send; `Lacking` when it cannot be sent to this server."""
        prepared = strip(document, self.dropped)
        if prepared.left_out and not prepared.left_out <= self._told:
            self._remind(prepared.left_out)
        if prepared.text is None:
            name = min(prepared.needs)
            raise Lacking(f"not reading {what}: W&B at {self.where} does not have {name}", name)
        return prepared

    def rejected(self, text: str, prepared: Prepared) -> dict[str, str]:
        """The elements this document asked for that the server's error says it lacks, with the server's words."""
        return {name: words for name, words in rejected(text).items() if name in prepared.asks}

    def drop(self, name: str, words: str) -> None:
        with self._lock:
            if name in self.dropped:
                return
            self.dropped |= {name}
            self._told |= {name}
        log.warning(
            f"W&B at {self.where} does not have {name} ({words}): the connector reads on without it, and "
            f"{OPTIONALS[name].consequence}; the next reconcile asks again"
        )

    def _remind(self, names: frozenset[str]) -> None:
        with self._lock:
            fresh = sorted(names - self._told)
            self._told |= names
        for name in fresh:
            log.info(
                f"W&B at {self.where} did not have {name} when last asked: {OPTIONALS[name].consequence}; the next "
                "reconcile asks again"
            )
