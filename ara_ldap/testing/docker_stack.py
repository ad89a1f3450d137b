"""The ``compose/`` deployment on a real Docker engine, for tests and users' CI.

:func:`compose_stack` makes sure an engine runs (a reachable one is used as it is; else
``dockerd`` is started with the flags that leave the host's network alone and is stopped
afterwards), builds the local base image ``local/bookworm:base`` from Debian's archive when
it is missing (no registry needed; built once, then reused), builds the images with
``docker-compose build``, brings the stack up on free loopback ports, waits until every
service is healthy, and tears down exactly what it made: ``down -v``, containers a failed
build left behind, the ``dockerd`` it started and a ``docker0`` link that appeared with it.
``../shared/reference/docker.md`` (the measured recipe) explains each step's trap.

Python's ``docker`` SDK (extra ``docker``) does what is one call there (ping, image
lookup and import, container health, clean-up); compose itself stays the ``docker-compose``
command, as a user runs it.  Nothing here imports pytest: callers decide between a skip and
a failure from :func:`unavailable_reason`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ara_ldap.testing.slapd import free_port

if TYPE_CHECKING:
    import docker

__all__ = [
    "BASE_IMAGE",
    "COMPOSE_DIR",
    "DOCKERD_FLAGS",
    "DockerStackError",
    "Engine",
    "Stack",
    "compose_stack",
    "ensure_base_image",
    "local_ca_certificates",
    "unavailable_reason",
]

#: The repository's compose/ directory (the harness runs from a source checkout).
COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"
#: The base image made from Debian's archive when no registry is reachable.
BASE_IMAGE = "local/bookworm:base"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: dockerd without touching the host: no iptables/NAT rules, no ip_forward (docker.md).
DOCKERD_FLAGS: tuple[str, ...] = (
    "--storage-driver=overlay2",
    "--iptables=false",
    "--ip-masq=false",
    "--ip-forward=false",
)
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SERVICES: tuple[str, ...] = ("ldap", "gateway")
_LOG_TAIL = 40


class DockerStackError(Exception):
    """The engine, an image or the stack could not be made ready (the message says why)."""


def _dockerd_path() -> str | None:
    return shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin:/sbin")


def _debootstrap_path() -> str | None:
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")


def _engine_reachable(base_url: str | None = None) -> bool:
    try:
        import docker
    except ModuleNotFoundError:
        return False
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


def _image_exists(tag: str) -> bool:
    import docker

    try:
        client = docker.from_env()
    except docker.errors.DockerException:
        return False
    try:
        client.images.get(tag)
        return True
    except docker.errors.DockerException:
        return False
    finally:
        client.close()


def unavailable_reason() -> str | None:
    """Why the stack cannot be brought up here (one sentence naming what to install), or
    None.  An engine that is not running is fine when ``dockerd`` can be started (root)."""
    missing: list[str] = []
    apt: list[str] = []
    sdk = True
    try:
        import docker  # noqa: F401
    except ModuleNotFoundError:
        sdk = False
        missing.append("the Python 'docker' package (pip install 'ara-ldap[docker]')")
    if shutil.which("docker-compose") is None:
        missing.append("docker-compose")
        apt.append("docker-compose")
    reachable = sdk and _engine_reachable()
    if not reachable:
        if _dockerd_path() is None:
            missing.append("dockerd (no Docker engine is reachable)")
            apt.append("docker.io")
        elif os.geteuid() != 0:
            missing.append("a running Docker engine (starting dockerd needs root)")
    base_ready = reachable and _image_exists(BASE_IMAGE)
    if not base_ready and _debootstrap_path() is None:
        missing.append(f"debootstrap (to build {BASE_IMAGE})")
        apt.append("debootstrap")
    if not missing:
        return None
    hint = f": apt-get install {' '.join(apt)}" if apt else ""
    return f"the compose stack needs {', '.join(missing)}{hint}"


# The engine ----------------------------------------------------------------------------


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


@dataclass
class Engine:
    """A Docker engine to talk to: the reachable one, or a ``dockerd`` this object started
    (and :meth:`stop` stops, with the ``docker0`` link it created)."""

    workdir: Path
    started: subprocess.Popen[bytes] | None = None
    base_url: str | None = None
    created_docker0: bool = False
    _had_docker0: bool = True
    seconds: float = 0.0

    def ensure(self, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        if _engine_reachable():
            return
        dockerd = _dockerd_path()
        if dockerd is None:
            raise DockerStackError("no Docker engine is reachable and dockerd is not installed")
        self._had_docker0 = _link_exists("docker0")
        log = (self.workdir / "dockerd.log").open("wb")
        self.base_url = DEFAULT_SOCKET
        self.started = subprocess.Popen(
            [dockerd, *DOCKERD_FLAGS, "--host", DEFAULT_SOCKET],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the test run is ours to forward
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not _engine_reachable(self.base_url):
            if self.started.poll() is not None:
                tail = self.log_tail()
                self.started = None
                raise DockerStackError(f"dockerd exited at start-up:\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise DockerStackError(f"dockerd did not answer within {timeout:g} s")
            time.sleep(0.1)
        self.seconds = time.monotonic() - t0

    def client(self) -> docker.DockerClient:
        import docker

        return docker.DockerClient(base_url=self.base_url) if self.base_url else docker.from_env()

    def env(self) -> dict[str, str]:
        """The environment for the ``docker-compose`` command (our engine, if started)."""
        env = dict(os.environ)
        if self.base_url:
            env["DOCKER_HOST"] = self.base_url
        return env

    def log_tail(self) -> str:
        path = self.workdir / "dockerd.log"
        if not path.exists():
            return ""
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-_LOG_TAIL:])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the dockerd this object started (by its pid), and delete ``docker0`` if
        it appeared with it.  An engine found running is left alone."""
        proc, self.started = self.started, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self._had_docker0 and _link_exists("docker0"):
            subprocess.run(["ip", "link", "del", "docker0"], check=False, capture_output=True)
            self.created_docker0 = True


# The base image ------------------------------------------------------------------------


def ensure_base_image(
    engine: Engine, tag: str = BASE_IMAGE, mirror: str = DEBIAN_MIRROR, suite: str = "bookworm"
) -> float:
    """Make ``tag`` from ``debootstrap --variant=minbase`` unless it exists; the seconds it
    took (0.0: it was there).  apt's caches are emptied before the import (117 MB)."""
    import docker

    client = engine.client()
    try:
        try:
            client.images.get(tag)
            return 0.0
        except docker.errors.ImageNotFound:
            pass
        debootstrap = _debootstrap_path()
        if debootstrap is None:
            raise DockerStackError(f"{tag} is missing and debootstrap is not installed")
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="ara-rootfs-", dir=engine.workdir) as tmp:
            rootfs = Path(tmp) / "rootfs"
            done = subprocess.run(
                [debootstrap, "--variant=minbase", suite, str(rootfs), mirror],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-_LOG_TAIL:])
                raise DockerStackError(f"debootstrap {suite} failed:\n{tail}")
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for item in (rootfs / cache).glob("*"):
                    if item.is_file():
                        item.unlink()
            tarball = Path(tmp) / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
            shutil.rmtree(rootfs)
            repository, _, image_tag = tag.partition(":")
            client.api.import_image_from_file(
                str(tarball), repository=repository, tag=image_tag or "latest"
            )
        return time.monotonic() - t0
    finally:
        client.close()


# The stack -----------------------------------------------------------------------------


def local_ca_certificates(directory: Path = Path("/usr/local/share/ca-certificates")) -> str:
    """The PEM text of the CAs this host added to its trust store (a TLS-intercepting
    proxy's, typically): the images' pip must trust them too to reach PyPI through it."""
    if not directory.is_dir():
        return ""
    return "\n".join(
        path.read_text(encoding="ascii", errors="replace").strip()
        for path in sorted(directory.rglob("*.crt"))
        if path.is_file()
    )


@dataclass
class Stack:
    """A running compose project: where its gateway and directory answer, and timings."""

    project: str
    gateway_url: str
    ldap_url: str
    admin_dn: str
    admin_password: str
    engine: Engine
    compose_file: Path
    env: dict[str, str]
    #: Seconds per phase: engine, base, build, up, down (down once torn down).
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return _compose(self.compose_file, self.project, self.env, *args, timeout=timeout)

    def logs(self) -> str:
        done = self.compose("logs", "--no-color", "--tail", str(_LOG_TAIL), timeout=60)
        return done.stdout + done.stderr


def _compose(
    compose_file: Path, project: str, env: Mapping[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(compose_file), "-p", project, *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        cwd=compose_file.parent,
    )


def _checked(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-_LOG_TAIL:])
        raise DockerStackError(f"docker-compose {what} failed (status {done.returncode}):\n{tail}")


def _wait_healthy(stack: Stack, timeout: float) -> None:
    """Every service's container reports ``healthy`` (a dead one fails at once)."""
    client = stack.engine.client()
    try:
        deadline = time.monotonic() + timeout
        while True:
            states: dict[str, str] = {}
            for container in client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={stack.project}"}
            ):
                service = container.labels.get("com.docker.compose.service", "")
                state = container.attrs.get("State", {})
                health = (state.get("Health") or {}).get("Status") or state.get("Status", "")
                if state.get("Status") in ("exited", "dead"):
                    health = f"exited ({state.get('ExitCode')})"
                states[service] = str(health)
            if all(states.get(s) == "healthy" for s in SERVICES):
                return
            dead = {s: h for s, h in states.items() if h.startswith("exited")}
            if dead or time.monotonic() > deadline:
                why = f"exited: {dead}" if dead else f"not healthy within {timeout:g} s: {states}"
                raise DockerStackError(f"compose stack {stack.project} {why}\n{stack.logs()}")
            time.sleep(0.2)
    finally:
        client.close()


def _remove_build_leftovers(engine: Engine, before: set[str]) -> list[str]:
    """Containers a failed build step left behind (the legacy builder's ``/bin/sh -c``
    step containers): stopped, created during this run, of no compose project.  Anything
    else on an engine we did not start is someone else's and stays."""
    import docker

    removed: list[str] = []
    with contextlib.suppress(docker.errors.DockerException):
        client = engine.client()
        try:
            for container in client.containers.list(all=True, filters={"status": "exited"}):
                cmd = (container.attrs.get("Config") or {}).get("Cmd") or []
                if (
                    container.id in before
                    or "com.docker.compose.project" in container.labels
                    or cmd[:2] != ["/bin/sh", "-c"]
                ):
                    continue
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)
                    removed.append(container.short_id)
        finally:
            client.close()
    return removed


@contextlib.contextmanager
def compose_stack(
    *,
    base: str = BASE_IMAGE,
    env: Mapping[str, str] | None = None,
    compose_file: Path = COMPOSE_DIR / "docker-compose.yml",
    health_timeout: float = 120.0,
) -> Iterator[Stack]:
    """The compose stack, built on ``base`` (``local/bookworm:base`` is made when missing)
    and up on free loopback ports, healthy; torn down on exit whatever happened.

    ``env`` adds to the compose variables (e.g. ``ARA_LDAP_FIXTURES``, ``ARA_LDAP_INITDB``);
    the admin password is a fresh random one in a private secrets file."""
    workdir = Path(tempfile.mkdtemp(prefix="ara-compose-"))
    engine = Engine(workdir)
    stack: Stack | None = None
    down: subprocess.CompletedProcess[str] | None = None
    before: set[str] | None = None
    try:
        engine.ensure()
        timings = {"engine": engine.seconds}
        with contextlib.closing(engine.client()) as client:
            before = {c.id for c in client.containers.list(all=True) if c.id}
        if base == BASE_IMAGE:
            timings["base"] = ensure_base_image(engine)
        password = secrets.token_urlsafe(18)
        secret = workdir / "ldap_admin_password"
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o644)  # read by the gateway's unprivileged user; the dir is 0700
        gateway_port, ldap_port = free_port(), free_port()
        variables = {
            "ARA_BASE": base,
            # Images tagged :test, so a user's :latest (docker-compose up) is not replaced.
            "ARA_TAG": "test",
            "ARA_GATEWAY_PORT": str(gateway_port),
            "ARA_LDAP_PORT": str(ldap_port),
            "ARA_PG_PORT": str(free_port()),
            "ARA_LDAP_PASSWORD_FILE": str(secret),
            "ARA_HEALTH_INTERVAL": "1s",
            "ARA_EXTRA_CA_CERTS": os.environ.get("ARA_EXTRA_CA_CERTS")
            or local_ca_certificates(),
            **(env or {}),
        }
        stack = Stack(
            project=f"ara-ldap-test-{os.getpid()}",
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            ldap_url=f"ldap://127.0.0.1:{ldap_port}",
            admin_dn="cn=admin,dc=example,dc=org",
            admin_password=password,
            engine=engine,
            compose_file=compose_file,
            env={**engine.env(), **variables},
            timings=timings,
        )
        t0 = time.monotonic()
        # --force-rm: the legacy builder removes a failed step's container itself.
        _checked(stack.compose("build", "--force-rm", *SERVICES), "build")
        timings["build"] = time.monotonic() - t0
        t0 = time.monotonic()
        _checked(stack.compose("up", "-d", "--no-build", *SERVICES), "up")
        _wait_healthy(stack, health_timeout)
        timings["up"] = time.monotonic() - t0
        yield stack
    finally:
        try:
            if stack is not None:
                t0 = time.monotonic()
                down = stack.compose("down", "-v", "--remove-orphans", timeout=120)
                stack.timings["down"] = time.monotonic() - t0
            if before is not None:
                _remove_build_leftovers(engine, before)
        finally:
            engine.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    if down is not None:
        _checked(down, "down")
