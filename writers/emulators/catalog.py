"""The emulators the registered services name, looked up by service or emulator name."""

from __future__ import annotations

from writers.emulators.common import EmulatorError
from writers.emulators.launch import Emulator
from writers.emulators.ports import check_int
from writers.services import SERVICES, Workload, workload_class


def _workloads() -> dict[str, type[Workload]]:
    """The registered services by name."""
    return {name: workload_class(name) for name in SERVICES}


def workload_for(service: str) -> type[Workload]:
    workloads = _workloads()
    workload = workloads.get(str(service).lower())
    if workload is None:
        raise EmulatorError(f"unknown service {service!r}; choose from {', '.join(workloads)}")
    return workload


def service_names() -> tuple[str, ...]:
    """The services there are emulators for (every registered one)."""
    return tuple(_workloads())


def emulators_for(service: str) -> tuple[Emulator, ...]:
    """The emulators of ``service``, most preferred first."""
    return workload_for(service).emulators


def emulator_names(service: str) -> tuple[str, ...]:
    return tuple(emulator.name for emulator in emulators_for(service))


def all_emulators() -> dict[str, Emulator]:
    """Every emulator any service names, by name."""
    return {e.name: e for workload in _workloads().values() for e in workload.emulators}


def find_emulator(name: str) -> Emulator:
    emulators = all_emulators()
    emulator = emulators.get(name)
    if emulator is None:
        raise EmulatorError(f"unknown emulator {name!r}; choose from {', '.join(emulators)}")
    return emulator


def display_name(service: str) -> str:
    """The service as Locust shows it ("DynamoDB")."""
    workload = _workloads().get(service)
    return workload.service.name if workload is not None else service


def port_offsets() -> dict[str, int]:
    """With ``port_base`` N, each service's client-facing port is N + its offset."""
    return {name: workload.local_port_offset for name, workload in _workloads().items()}


def max_port_base() -> int:
    return 65535 - max(port_offsets().values())


def why_unavailable(name: str) -> str | None:
    """None if emulator ``name`` can run on this machine, else why not."""
    return find_emulator(name).unavailable()


def available_emulators(service: str) -> list[str]:
    """Emulators that can run here for ``service``, most preferred first."""
    return [e.name for e in emulators_for(service) if e.unavailable() is None]


def check_port_base(port_base: object, what: str = "port_base") -> int:
    """A port base: each service on it + its offset (`port_offsets`), all within 1..65535."""
    return check_int(port_base, 1, max_port_base(), what)
