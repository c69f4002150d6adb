"""What a service is: the contract every module in writers/services/ fulfils.

A service's Workload class carries all it knows: its resource and flags, the calls
records become, provisioning and teardown, the read-back for --verify, and as class
attributes its options (`options_class`, and `options_module`, whose flags and checks
come after the resource's own), its billing rules and prices (`billing`) and the local
emulators that stand in for it (`emulators`, `local_port_offset`), and how it answers
the fault proxy's throttles and errors (`faults`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from writers.calls import Call, ServiceInfo
from writers.errors import ConfigError
from writers.faults import ServiceFaults
from writers.records import BookRecords, faker_pools
from writers.target import Endpoint

if TYPE_CHECKING:  # only named in annotations
    from writers.emulators import Emulator
    from writers.pricing import Billing


@dataclass
class VerifyResult:
    """What a read-back of acknowledged records found."""

    acknowledged: int = 0
    lost: int = 0  # acknowledged, not stored
    corrupt: int = 0  # stored, but not as written
    duplicates: int = 0  # stored more than once (a queue)
    uncertain: int = 0  # keys holding a version no acknowledged write explains, while some writes went unanswered
    examples: list[str] = field(default_factory=list)  # a few lost or corrupt keys
    error: str = ""  # the read-back itself failed: nothing is verified

    @property
    def ok(self) -> bool:
        return not (self.lost or self.corrupt or self.error)


def acceptable_versions(writes: list[tuple[str, str, float, float]]) -> dict[str, frozenset[str]]:
    """Per key, the versions that may be stored: the write sent last among the acknowledged
    ones, and every write acknowledged only after it was sent (their order is the service's).
    `writes`: (key, version, sent, acknowledged) of every acknowledged write."""
    log = KeyVersions()
    for write in writes:
        log.add(*write)
    return log.acceptable()


class KeyVersions:
    """What --verify keeps of the acknowledged writes of keys written again, per key and not
    per write: when the last acknowledged write of the key was sent, and the versions
    acknowledged since then (the only ones that may still be stored). Writes may come in any
    order (from many workers): a write sent later prunes what was acknowledged before it was
    sent; what was pruned could never be accepted again. So its memory is bounded by the
    distinct keys (and the writes of one key in flight together), whatever the run's length."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {}  # key -> (last sent, (version, acked))

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, key: str, version: str, sent: float, acked: float) -> None:
        self.merge(key, sent, ((version, acked),))

    def merge(self, key: str, sent: float, kept: tuple[tuple[str, float], ...]) -> None:
        """Add another log's row (a worker's): `sent`, its last-sent time; `kept`, its versions."""
        row = self.rows.get(key)
        if row is not None:
            last, mine = row
            if sent > last:
                mine = tuple(entry for entry in mine if entry[1] >= sent)
            else:
                kept = tuple(entry for entry in kept if entry[1] >= last)
                sent = last
            kept = mine + kept
        self.rows[key] = (sent, kept)

    def acceptable(self) -> dict[str, frozenset[str]]:
        return {key: frozenset(version for version, _ in kept) for key, (_, kept) in self.rows.items()}

    def to_message(self) -> list[list[object]]:
        return [[key, sent, [list(entry) for entry in kept]] for key, (sent, kept) in self.rows.items()]

    def merge_message(self, rows: list[list[object]]) -> None:
        for key, sent, kept in rows:
            self.merge(str(key), float(sent), tuple((str(v), float(a)) for v, a in kept))  # type: ignore[attr-defined, arg-type]

    def clear(self) -> None:
        self.rows.clear()


class _FlagRecorder:
    """Stands in for a parser to learn which flags a service adds (their argparse destinations)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add_argument(self, *flags: str, **options: Any) -> None:
        long_flag = next((flag for flag in flags if flag.startswith("--")), flags[0])
        self.names.append(str(options.get("dest") or long_flag.lstrip("-").replace("-", "_")))


class RecordSource(Protocol):
    def next(self) -> dict[str, Any]: ...

    def take(self, n: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class WorkloadOptions:
    """A service's options; services with flags of their own subclass it (frozen, hashable)."""

    resource: str  # table, bucket or queue name
    batch: int = 1  # items per call; 1 = the single-item API
    payload_bytes: int = 0

    def reading_flag(self) -> str:
        """The flag, as given, that makes some calls read instead of write ('' when every
        call writes): a pipeline's step must write each record it passes on."""
        return ""


class OptionsModule(Protocol):
    """A service's `options` module: its own flags (besides the resource's) and their checks."""

    def add_arguments(self, parser: Any) -> None: ...

    def read_options(self, options: Any, name: str, batch: int, payload_bytes: int) -> WorkloadOptions:
        """The checked options from the parsed flags (`name`, the resource's, is checked
        already); ConfigError with one clear line on the first bad one."""
        ...


class Workload(ABC):
    """Turns records into calls for one service, and owns the resource they go to."""

    service: ClassVar[ServiceInfo]
    resource_kind: ClassVar[str]  # "table", "bucket", "queue": also the CLI flag name
    default_resource: ClassVar[str]
    max_batch: ClassVar[int]  # items per write call
    max_read_batch: ClassVar[int] = 0  # items per batch read where more than max_batch (--read-ratio 1 alone)
    max_payload_bytes: ClassVar[int]  # the service's limit for one record
    resource_pattern: ClassVar[str]  # what AWS accepts as a name, as a regex
    billing: ClassVar[Billing]  # list prices and the rules that bill a call
    emulators: ClassVar[tuple[Emulator, ...]]  # local stand-ins, preferred first (writers.emulators.MOTO last)
    local_port_offset: ClassVar[int]  # its emulator's port under --port-base N: N + this (unique per service)
    faults: ClassVar[ServiceFaults]  # its requests and answers, for the fault-injecting proxy

    options_class: ClassVar[type[WorkloadOptions]]  # what `options_module.read_options` makes
    # The service's options module: its flags and their checks. Not a ClassVar: mypy takes a
    # module assigned in a class body for an instance variable.
    options_module: OptionsModule

    options: WorkloadOptions  # a service narrows it to its options_class

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """The service's flags, the resource's first (Locust's parser: they show in the web UI too)."""
        parser.add_argument(
            f"--{cls.resource_kind}", default=cls.default_resource, help=f"{cls.service.name} {cls.resource_kind} name"
        )
        cls.options_module.add_arguments(parser)

    @classmethod
    def report_flags(cls) -> tuple[str, ...]:
        """The service's flags a report records (argparse destinations): every flag it adds."""
        recorder = _FlagRecorder()
        cls.add_arguments(recorder)
        return tuple(recorder.names)

    @classmethod
    def read_options(cls, options: Any, batch: int, payload_bytes: int) -> WorkloadOptions:
        """Check the service's own flags; ConfigError with one clear line if one is bad."""
        name = str(getattr(options, cls.resource_kind))
        cls.check_resource_name(name)
        return cls.options_module.read_options(options, name, batch, payload_bytes)

    @classmethod
    def check_resource_name(cls, name: str) -> None:
        if not re.fullmatch(cls.resource_pattern, name):
            raise ConfigError(
                f"--{cls.resource_kind} {name!r} is not a valid {cls.service.name} {cls.resource_kind} name"
            )

    @classmethod
    def make_shared_data(cls) -> None:
        """Once per process, before it takes part in a run (and before Locust's --processes
        forks, so the children inherit it): what every stream of records shares and costs
        much to make. Book records: the Faker value pools."""
        faker_pools()

    def __init__(self, options: WorkloadOptions) -> None:
        if not isinstance(options, self.options_class):  # plain options: the service's defaults for the rest
            options = self.options_class(options.resource, options.batch, options.payload_bytes)
        self.options = options
        self.versions: dict[str, frozenset[str]] = {}  # --verify: a key's acceptable versions, where keys repeat
        self.newer_may_exist = False  # --verify: writes went unanswered, so a key may hold a newer version

    @property
    def tracks_keys(self) -> bool:
        """Records' keys repeat (a key space): the run names its hottest keys."""
        return False

    def discovered(self) -> dict[str, Any]:
        """Flags the resource itself decides, learned by preflight (a table's capacity mode): the
        master sets them on the options of every process. Nothing by default."""
        return {}

    def describe_capacity(self) -> str:
        """The resource's capacity as the run uses it ("" if nothing to say)."""
        return ""

    def capacity(self) -> dict[str, float]:
        """Provisioned units per second, by billed unit (for consumed-vs-provisioned); none by default."""
        return {}

    def expect_versions(self, versions: dict[str, frozenset[str]], newer_may_exist: bool = False) -> None:
        """--verify: for keys written more than once, the versions that may be stored (the last
        acknowledged). `newer_may_exist`: some writes were never answered (the run ended before
        they were), so a key holding another version is uncertain, not lost."""
        self.versions = versions
        self.newer_may_exist = newer_may_exist

    def prepare(self, endpoint: Endpoint) -> None:  # noqa: B027 - most services need nothing
        """Once per process before the first call (e.g. look up a queue URL). Provisioning is not here."""

    def preflight(self, endpoint: Endpoint) -> None:
        """Before the swarm (master only): what can be checked now instead of failing every
        call later, e.g. that the resource exists, has the shape the calls need, and takes
        writes from these credentials. ConfigError with one clear line if not."""
        self.prepare(endpoint)

    def records(self, seed: int | None, stream: int) -> RecordSource:
        """What this service writes: Faker book records unless it says otherwise."""
        return BookRecords(seed, stream=stream, payload_bytes=self.options.payload_bytes)

    @abstractmethod
    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """The calls that write these records (single or batch API by options.batch)."""

    def stream_calls(self, records: Iterable[dict[str, Any]]) -> Iterator[Call]:
        """`write_calls` for a stream of records, made as they are needed (one call's worth
        at a time), so that no user holds its records, or their calls, in memory."""
        yield from self.chunked_calls(records, max(1, self.options.batch))

    def chunked_calls(self, records: Iterable[dict[str, Any]], chunk: int) -> Iterator[Call]:
        write = self.write_calls
        if chunk == 1:  # once per call: no slice of the stream to make
            for record in records:
                yield from write((record,))
            return
        stream = iter(records)
        while part := list(islice(stream, chunk)):
            yield from write(part)

    @abstractmethod
    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        """Create the resource if missing and wait until usable; True if created."""

    @abstractmethod
    def teardown(self, endpoint: Endpoint) -> None:
        """Delete the resource."""

    def unverifiable(self) -> str:
        """Why acknowledged records cannot be read back with these options ("" if they can)."""
        return ""

    def verify(self, endpoint: Endpoint, acked_keys: Sequence[str]) -> VerifyResult:
        """Read back what was acknowledged (--verify). By default: compare with every stored key."""
        stored = self.stored_keys(endpoint)
        lost = [key for key in acked_keys if key not in stored]
        return VerifyResult(len(acked_keys), lost=len(lost), examples=lost[:5])

    @abstractmethod
    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        """Every key in the resource now (for tests and verification)."""
