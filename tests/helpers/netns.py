"""Several "hosts" on one machine for distributed tests: network namespaces joined by
veth pairs and a bridge, private addresses that exist only inside them, and a hosts
file per namespace (/etc/netns/NAME/hosts) so each resolves the others by name.
Everything is removed on exit, even after a failure."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def namespaces_available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return "network namespaces need root and iproute2"
    probe = f"ltprobe{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    return None


@dataclass
class Network:
    prefix: str  # e.g. "10.231.57"
    addresses: dict[str, str]  # host name -> address
    namespaces: dict[str, str]  # host name -> namespace name
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def on_host(self, host: str) -> list[str]:
        """The command prefix that runs a command on a host (`ip netns exec` execs it: one
        process); one started so is the starter's to stop, not the network's."""
        return ["ip", "netns", "exec", self.namespaces[host]]

    def start(
        self, host: str, command: list[str], env: Mapping[str, str] | None = None, **kw: Any
    ) -> subprocess.Popen[str]:
        """Run a command on a host; its output goes to pipes, it dies with the network."""
        process = subprocess.Popen(
            [*self.on_host(host), *command],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **kw,
        )
        self.processes.append(process)
        return process


@contextmanager
def network(hosts: list[str]) -> Iterator[Network]:
    """Hosts on one bridge; the test process itself reaches them through the bridge (.254)."""
    tag = secrets.token_hex(2)
    prefix = f"10.231.{secrets.randbelow(150) + 100}"
    bridge = f"ltbr{tag}"
    namespaces = {host: f"lt{tag}-{host}" for host in hosts}
    addresses = {host: f"{prefix}.{i + 1}" for i, host in enumerate(hosts)}
    net = Network(prefix, addresses, namespaces)
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{prefix}.254/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(f"{a} {h}\n" for h, a in addresses.items())
        for i, host in enumerate(hosts):
            ns, outside, inside = namespaces[host], f"lt{tag}v{i}a", f"lt{tag}v{i}b"
            _ip("netns", "add", ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("link", "set", inside, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addresses[host]}/24", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            Path(f"/etc/netns/{ns}").mkdir(parents=True, exist_ok=True)
            Path(f"/etc/netns/{ns}/hosts").write_text(hosts_file)
        yield net
    finally:
        for process in net.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(10)
        for ns in namespaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)
