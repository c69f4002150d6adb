"""Several services in one run: what the glue needs to know about them, in one place.

A run may hold user classes of several services (locustfiles/mixed.py), or users that
write to several (a pipeline's: locustfiles/pipeline.py). Each user class belongs to one
service (its `workload`; a pipeline's names all of its steps'); the run's services are
those of the user classes it runs. A figure given per service on the command line
(`--rate dynamodb=200,sqs=100`, `--check-p99-ms dynamodb=20,s3=80`) names services by
their registry name (writers.services: "dynamodb"); rows, pacing and the tally name them
as Locust shows them ("DynamoDB"). Nothing here names a service: it asks the registry.

Nothing here runs per call: it is read at start-up, at the start of a test and at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from writers.errors import ConfigError
from writers.services import SERVICES, Workload, service_named, workload_class

ALL = ""  # a share of the rate for every user, whatever its service (one global --rate)


def flag_name(workload: type[Workload]) -> str:
    """The name a flag gives the service ("dynamodb"): its registry name."""
    return next(name for name in SERVICES if workload_class(name) is workload)


def flag_name_of(shown: str) -> str:
    """A service as Locust shows it ("DynamoDB") -> as flags name it ("dynamodb")."""
    workload = service_named(shown)
    return flag_name(workload) if workload is not None else shown


def shown_name(flag: str) -> str:
    """The name Locust shows for the service a flag names: "dynamodb" -> "DynamoDB"."""
    return workload_class(flag).service.name


def parse_per_service(flag: str, text: Any) -> dict[str, str] | None:
    """'dynamodb=200,sqs=100' -> {"dynamodb": "200", "sqs": "100"}; None for one plain
    figure (no '='). ConfigError (one line) for an unknown or repeated service."""
    text = str(text if text is not None else "").strip()
    if "=" not in text:
        return None
    found: dict[str, str] = {}
    for term in text.split(","):
        name, equals, value = term.strip().partition("=")
        name = name.strip().lower()
        if not equals or not name:
            raise ConfigError(f"{flag} {text!r}: give one figure, or SERVICE=FIGURE for each, like dynamodb=200")
        if name not in SERVICES:
            raise ConfigError(f"{flag} {text!r}: unknown service {name!r}; choose from {', '.join(SERVICES)}")
        if name in found:
            raise ConfigError(f"{flag} {text!r}: {name} is given twice")
        found[name] = value.strip()
    return found


def workloads_of(user_classes: Iterable[Any], options: Any = None) -> list[type[Workload]]:
    """The services these user classes write to, in the order first met (classes of ours
    only): a class's `workload`, or every one its `workloads_written(options)` names (a
    pipeline's users write to every step's service)."""
    found: dict[type[Workload], None] = {}
    for cls in user_classes:
        if getattr(cls, "abstract", False):
            continue
        written = getattr(cls, "workloads_written", None)
        for workload in written(options) if callable(written) else [getattr(cls, "workload", None)]:
            if isinstance(workload, type) and issubclass(workload, Workload):
                found[workload] = None
    return list(found)


def in_run(user_classes: Iterable[Any] | None, options: Any, registered: list[type[Workload]]) -> list[type[Workload]]:
    """The registered services a run of these user classes uses (the command line's or the
    web UI's picks); all registered when it runs none of ours."""
    used = set(workloads_of(user_classes or (), options))
    return [w for w in registered if w in used] or list(registered)


def check_named_in_run(flag: str, named: Iterable[str], used: list[type[Workload]], every: bool = False) -> None:
    """Each service a per-service figure names must have a user class in the run; with
    `every`, each service of the run needs a figure too (ConfigError, one line)."""
    names = {flag_name(w) for w in used}
    for name in named:
        if name not in names:
            raise ConfigError(
                f"{flag} gives a figure for {name}, but no {shown_name(name)} user class is in this run "
                f"(its services: {', '.join(sorted(names))})"
            )
    missing = sorted(names - set(named))
    if every and missing:
        raise ConfigError(
            f"{flag} gives no figure for {', '.join(missing)}, whose users are in this run: "
            f"give {missing[0]}=N, or run without its user classes"
        )


def classes_by_service(user_classes: Iterable[Any]) -> dict[str, str]:
    """User class name -> the service it writes to, as Locust shows it ("DynamoDB")."""
    return {cls.__name__: w.service.name for cls in user_classes for w in workloads_of([cls])}


def users_by_service(class_counts: Mapping[str, int], services: Mapping[str, str]) -> Counter[str]:
    """A process's users per service, from Locust's users per class name."""
    counts: Counter[str] = Counter()
    for name, count in class_counts.items():
        service = services.get(name)
        if service is not None:
            counts[service] += count
    return counts


def rows_by_service(rows: Mapping[Any, Mapping[str, int]]) -> dict[str, Counter[str]]:
    """The tally's rows (keyed by RowKey) added up per service, as Locust shows it."""
    totals: dict[str, Counter[str]] = {}
    for key, counts in rows.items():
        totals.setdefault(key.service, Counter()).update(counts)
    return totals


def rate_weights(by_service: Mapping[str, float]) -> dict[str, float]:
    """Per-service rates ({"dynamodb": 200, "sqs": 100}) as each service's part of the
    run's rate, by the name Locust shows ({"DynamoDB": 2/3, "SQS": 1/3}); {} for none."""
    total = sum(by_service.values())
    return {shown_name(name): rate / total for name, rate in by_service.items()} if total > 0 else {}


def rate_by_service(
    rows: Mapping[Any, Mapping[str, int]],
    target: float | None,
    weights: Mapping[str, float],
    duration_of: Callable[[str], float],
) -> dict[str, dict[str, Any]]:
    """--summary-json `rate.by_service`: per service (registry name) its target (its part of
    `target`; None without per-service rates), achieved acknowledged records/s over its own
    time (`duration_of` the service as Locust shows it), late starts."""
    shown = {shown_name(name): name for name in SERVICES}
    found: dict[str, dict[str, Any]] = {}
    totals = rows_by_service(rows)
    for service in sorted(set(totals) | set(weights)):
        counts = totals.get(service, Counter())
        part = weights.get(service)
        duration = duration_of(service)
        found[shown.get(service, service)] = {
            "target": round(target * part, 1) if target is not None and part is not None else None,
            "achieved": round(counts["acked"] / duration, 1) if duration > 0 else 0.0,
            "late": counts["late"],
        }
    return found


class FirstFlagWins:
    """A parser (or a group) for several services' flags: a flag two services both define
    (`--read-ratio`, the same meaning and default in each) keeps its first definition, and
    each service reads it (argparse would refuse the second). The first action is returned,
    so wrappers (aws_locust.settings.WithEnvVars) always see one."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def add_argument(self, *flags: str, **options: Any) -> Any:
        known = getattr(self._parser, "_option_string_actions", {})  # a group shares its parser's
        for flag in flags:
            if flag in known:
                return known[flag]
        return self._parser.add_argument(*flags, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def format_rate_by_service(by_service: Mapping[str, Mapping[str, Any]]) -> str:
    """One line: 'dynamodb target 200, achieved 198.4, 0 late; sqs ...'."""
    return "; ".join(
        f"{name} target {figures['target'] if figures['target'] is not None else '-'}, "
        f"achieved {figures['achieved']}, {figures['late']} late"
        for name, figures in by_service.items()
    )


COUNTS = ("calls", "items", "acked", "retried_items", "given_up_items")  # per service in the summary


def counts_by_service(rows: Mapping[Any, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """--summary-json `by_service` (several services in the run): each service's counts
    (registry name -> calls, items, acked, retried and given-up items), its rows added up."""
    return {
        flag_name_of(service): {field: counts[field] for field in COUNTS}
        for service, counts in sorted(rows_by_service(rows).items())
    }


def targets_by_service(target: float, by_service: Mapping[str, float]) -> dict[str, float]:
    """The run's target split by the per-service figures' proportions (registry names); {} for one global rate."""
    total = sum(by_service.values())
    return {name: round(target * rate / total, 1) for name, rate in by_service.items()} if total > 0 else {}
