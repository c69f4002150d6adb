"""Every service is a package of one shape: a newcomer opens any service and knows where things are.

Each registered service is a package under writers/services/ with the same module for the
same job (what a service needs beyond them, S3's sizes or SQS's messages, comes on top),
and its Workload takes each part from the module named for it.
"""

from __future__ import annotations

import argparse
import inspect
from importlib import import_module
from pathlib import Path

import pytest

from writers.emulators import MOTO
from writers.services import SERVICES, workload_class
from writers.services.base import WorkloadOptions

SERVICES_DIR = Path(__file__).resolve().parent.parent / "writers" / "services"
COMMON_MODULES = ("service", "options", "calls", "billing", "emulator", "faults", "workload")


def test_every_service_is_a_package() -> None:
    assert set(SERVICES) >= {"dynamodb", "s3", "sqs", "kinesis"}
    single_modules = sorted(p.stem for p in SERVICES_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    assert single_modules == [], f"services as single modules: {single_modules}"
    for name in SERVICES:
        assert (SERVICES_DIR / name / "__init__.py").is_file(), name


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_package_has_the_common_modules(name: str) -> None:
    present = {p.stem for p in (SERVICES_DIR / name).glob("*.py")}
    missing = [module for module in COMMON_MODULES if module not in present]
    assert missing == [], f"{name} lacks {missing}"


@pytest.mark.parametrize("name", SERVICES)
def test_the_workload_takes_each_part_from_its_module(name: str) -> None:
    def module(job: str) -> object:
        return import_module(f"writers.services.{name}.{job}")

    workload = workload_class(name)
    assert workload.__module__ == f"writers.services.{name}.workload"
    assert workload.service is module("service").SERVICE  # type: ignore[attr-defined]
    assert workload.billing is module("billing").BILLING  # type: ignore[attr-defined]
    assert workload.emulators is module("emulator").EMULATORS  # type: ignore[attr-defined]
    assert type(workload.faults).__module__ == f"writers.services.{name}.faults"
    assert workload.options_class.__module__ == f"writers.services.{name}.options"
    assert workload.options_module is module("options")
    for function in ("add_arguments", "read_options"):  # the service's flags and their checks
        assert callable(getattr(module("options"), function, None)), f"{name}.options.{function}"
    assert import_module(f"writers.services.{name}").WORKLOAD is workload


@pytest.mark.parametrize("name", SERVICES)
def test_every_package_shows_the_same_face(name: str) -> None:
    """The package re-exports each common part under the same name and its docstring names every common module."""
    package = import_module(f"writers.services.{name}")
    workload = workload_class(name)
    assert package.SERVICE is workload.service
    assert package.BILLING is workload.billing
    assert package.EMULATORS is workload.emulators
    faults = type(workload.faults)
    assert getattr(package, faults.__name__, None) is faults, f"{name} does not re-export {faults.__name__}"
    assert callable(getattr(package, "error_answer", None)), f"{name} does not re-export error_answer"
    unnamed = [module for module in COMMON_MODULES if f"`{module}`" not in (package.__doc__ or "")]
    assert unnamed == [], f"the docstring of writers.services.{name} leaves out {unnamed}"


@pytest.mark.parametrize("name", SERVICES)
def test_the_workload_declares_its_options_and_base_does_the_rest(name: str) -> None:
    """A service declares its options class and module; reading the flags (the resource's first,
    then the module's, with the same arguments everywhere) and taking plain options is base's."""
    workload = workload_class(name)
    assert "add_arguments" not in vars(workload) and "read_options" not in vars(workload), name
    if "__init__" in vars(workload):  # a service may keep state of its own, but converts no options
        assert "isinstance" not in inspect.getsource(workload.__init__), name
    reader = inspect.signature(workload.options_module.read_options)
    assert list(reader.parameters) == ["options", "name", "batch", "payload_bytes"], name
    assert workload.__annotations__.get("options") in (workload.options_class, workload.options_class.__name__)

    plain = workload(WorkloadOptions(workload.default_resource))  # what glue makes without the service's flags
    assert type(plain.options) is workload.options_class
    assert plain.options == workload.options_class(workload.default_resource)


@pytest.mark.parametrize("name", SERVICES)
def test_the_resource_flag_comes_first_then_the_module_s(name: str) -> None:
    workload = workload_class(name)
    flags = workload.report_flags()
    assert flags[0] == workload.resource_kind
    recorder = argparse.ArgumentParser()
    workload.options_module.add_arguments(recorder)
    own = [action.dest for action in recorder._actions if action.dest != "help"]
    assert list(flags[1:]) == own and own, name


@pytest.mark.parametrize("name", SERVICES)
def test_the_emulators_end_with_moto(name: str) -> None:
    emulators = workload_class(name).emulators
    assert len(emulators) >= 2 and emulators[-1].name == "moto", [e.name for e in emulators]
    assert emulators[-1].launch is MOTO.launch and emulators[-1].unavailable is MOTO.unavailable


@pytest.mark.parametrize("name", SERVICES)
def test_the_package_init_is_small(name: str) -> None:
    """The package's __init__ says what the service is and what it exports; the work is in its modules."""
    source = (SERVICES_DIR / name / "__init__.py").read_text()
    assert "def " not in source and "class " not in source, f"{name}/__init__.py defines things"
