"""Throwaway OpenLDAP ``slapd`` instances for tests, demos and users' CI.

A :class:`Slapd` owns a private work directory (cn=config in ``slapd.d``, a
back-mdb database in ``data``, the ldapi socket, ``slapd.log``) and runs slapd
as a foreground child process, so that stopping it is a plain SIGTERM + wait
(no pid files, no zombie confusion) and a crashed test run cannot leave a
daemonized slapd behind.

Only the standard library is used, so the harness can be imported by any test
suite; it needs Debian's ``slapd`` and ``ldap-utils`` packages (or the same
binaries and ``/etc/ldap/schema`` on another system).

Typical use::

    with asterisk_slapd() as ldap:
        ldap.ldapadd(*find_fixture_ldifs())
        ...  # connect to ldap.url anonymously or as ldap.admin_dn
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = [
    "ASTERISK_SUBTREES",
    "INSTALL_HINT",
    "OPENLDAP_SIZE_LIMIT",
    "PJSIP_INDEXES",
    "ProductionSlapd",
    "Slapd",
    "SlapdError",
    "TlsFiles",
    "asterisk_slapd",
    "find_fixture_ldifs",
    "find_schema_ldif",
    "find_schema_ldifs",
    "find_tool",
    "free_port",
    "ldif_first_dn",
    "missing_tools",
    "production_slapd",
]

INSTALL_HINT = "install Debian's slapd and ldap-utils (apt-get install slapd ldap-utils)"

#: Standard schemas included before the caller's, in this order.
STANDARD_SCHEMAS: tuple[str, ...] = ("core", "cosine", "inetorgperson", "nis")
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
#: The indexes pjsip.md 5.7 recommends for sorcery's queries (needs ``pjsip.ldif``): ids
#: for equality and prefix, the contact AOR and expiry, identify by endpoint, presence for
#: ``contact != ''`` and ``mailboxes != ''``.
PJSIP_INDEXES: tuple[str, ...] = (
    "astEndpointId,astAuthId,astAorId,astContactId,astDomainAliasId,astIdentifyId eq,sub",
    "astPsId,astPsKind eq",
    "astContactAor,astContactExpirationTime,astIdentifyEndpoint eq",
    "astAorContact,astEndpointMailboxes pres",
)
MODULE_PATH = Path("/usr/lib/ldap")

# Tools the harness runs; all must be present for an instance to be usable.
_REQUIRED_TOOLS: tuple[str, ...] = ("slapd", "slapadd", "ldapadd", "ldapmodify")
# slapd and slapadd live in sbin, which is not on a normal user's PATH.
_SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Anonymous LDAPv3 simple bind, message id 1: the cheapest request slapd answers.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
_BIND_RESPONSE_TAG = 0x61
# sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_PORT_RETRIES = 5
_POLL_INTERVAL = 0.005
_LOG_TAIL_LINES = 25
_REDACTED = "********"


class SlapdError(Exception):
    """The harness could not build, start, stop or feed a slapd instance."""


@dataclass(frozen=True)
class TlsFiles:
    """The server side of TLS: the CA clients' certificates must chain to, the server's
    certificate and key (PEM), and ``olcTLSVerifyClient`` (``try``: a client certificate is
    asked for and checked when sent, which SASL EXTERNAL over TLS needs)."""

    ca: Path
    cert: Path
    key: Path
    verify_client: str = "try"


def find_tool(name: str) -> Path | None:
    """Find an OpenLDAP executable on PATH or in the sbin directories."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN_DIRS))
    return Path(found) if found else None


def missing_tools() -> list[str]:
    """Name what is missing to run an instance (empty when everything is there).

    Lets callers such as the pytest plugin skip cleanly instead of failing
    inside a fixture.
    """
    missing = [name for name in _REQUIRED_TOOLS if find_tool(name) is None]
    missing += [
        str(path)
        for name in STANDARD_SCHEMAS
        if not (path := SYSTEM_SCHEMA_DIR / f"{name}.ldif").is_file()
    ]
    return missing


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Another process can still take it before slapd binds; :meth:`Slapd.start`
    retries with a new port when that happens to an auto-chosen one.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _package_data_dir(name: str) -> Path | None:
    """Locate ``ara_ldap/data/<name>``, else the source tree's ``<name>`` directory.

    slapadd and ldapadd need file-system paths, so a resource that is not a
    plain path (zip import) falls through to the source checkout.
    """
    candidates: list[Path] = []
    with contextlib.suppress(ModuleNotFoundError, TypeError):
        resource = resources.files("ara_ldap") / "data" / name
        if isinstance(resource, Path):
            candidates.append(resource)
    # ara_ldap/testing/slapd.py -> repository root (a source checkout).
    candidates.append(Path(__file__).resolve().parents[2] / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def find_schema_ldif() -> Path:
    """Return the project's cn=config schema file ``asterisk.ldif``."""
    schema_dir = _package_data_dir("schema")
    if schema_dir is not None and (schema_dir / "asterisk.ldif").is_file():
        return schema_dir / "asterisk.ldif"
    raise SlapdError(
        "asterisk.ldif not found in ara_ldap/data/schema (package data) nor in "
        "the source tree's schema/ directory: reinstall ara-ldap or run from a "
        "complete checkout"
    )


def find_schema_ldifs() -> list[Path]:
    """The project's cn=config schemas, in load order: ``asterisk.ldif`` then ``pjsip.ldif``
    (the PJSIP families, which the fixtures' ``60-pjsip.ldif`` needs)."""
    first = find_schema_ldif()
    pjsip = first.with_name("pjsip.ldif")
    if not pjsip.is_file():
        raise SlapdError(f"{pjsip} not found: reinstall ara-ldap or run from a complete checkout")
    return [first, pjsip]


def find_fixture_ldifs() -> list[Path]:
    """Return the shipped fixture LDIF files, sorted by name (the load order)."""
    ldif_dir = _package_data_dir("ldif")
    if ldif_dir is None:
        raise SlapdError(
            "fixture directory not found in ara_ldap/data/ldif (package data) nor "
            "in the source tree's ldif/ directory: reinstall ara-ldap or run from a "
            "complete checkout"
        )
    return sorted(path for path in ldif_dir.glob("*.ldif") if path.is_file())


def ldif_first_dn(path: Path) -> str | None:
    """Return the DN of the first record of an LDIF file (None if it has none).

    Used to derive the suffix from a base fixture, so the fixtures and the
    instance cannot disagree about the naming context.
    """
    logical: list[str] = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if raw.startswith(" ") and logical:
            logical[-1] += raw[1:]
        else:
            logical.append(raw)
    for line in logical:
        if line.lower().startswith("dn::"):
            return base64.b64decode(line[4:].strip()).decode("utf-8")
        if line.lower().startswith("dn:"):
            return line[3:].strip()
    return None


def _ssha(password: str) -> str:
    """Hash a password as ``{SSHA}`` so config.ldif and slapd.d hold no plain text."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def ldif_line(attribute: str, value: str) -> str:
    """One LDIF attribute line, base64-encoded when the value is not SAFE-STRING."""
    safe = (
        value.isascii()
        and value.isprintable()
        and not value.startswith((" ", ":", "<"))
        and not value.endswith(" ")
    )
    if safe:
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode('ascii')}"


def _read_ber_header(data: bytes, index: int) -> tuple[int, int, int] | None:
    """Parse the BER tag and length at ``index``: ``(tag, length, content_start)``.

    ``None`` means more bytes are needed; a length of -1 marks an unsupported
    (indefinite or oversized) length.
    """
    if index + 2 > len(data):
        return None
    tag, first = data[index], data[index + 1]
    if first < 0x80:
        return tag, first, index + 2
    count = first & 0x7F
    if count == 0 or count > 4:
        return tag, -1, index + 2
    end = index + 2 + count
    if end > len(data):
        return None
    return tag, int.from_bytes(data[index + 2 : end], "big"), end


def _is_bind_response(data: bytes) -> bool | None:
    """Tell whether ``data`` starts an LDAPMessage carrying a BindResponse.

    Returns ``None`` while more bytes are needed. Parses the BER envelope
    (SEQUENCE, length in short or long form, messageID INTEGER) instead of
    trusting fixed offsets.
    """
    envelope = _read_ber_header(data, 0)
    if envelope is None:
        return None
    if envelope[0] != 0x30:
        return False
    message_id = _read_ber_header(data, envelope[2])
    if message_id is None:
        return None
    tag, length, start = message_id
    if tag != 0x02 or length < 0:
        return False
    operation = start + length
    return data[operation] == _BIND_RESPONSE_TAG if operation < len(data) else None


def _probe(family: socket.AddressFamily, address: str | tuple[str, int], timeout: float) -> bool:
    """Send an anonymous bind and report whether a BindResponse came back."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(_ANONYMOUS_BIND)
            data = b""
            while True:
                chunk = sock.recv(64)
                if not chunk:
                    return False
                data += chunk
                verdict = _is_bind_response(data)
                if verdict is not None:
                    return verdict
    except OSError:
        return False


@dataclass
class _Runtime:
    """What the GC finalizer must clean up; it never references the Slapd."""

    workdir: Path
    remove_workdir: bool
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    def reap(self, sig: signal.Signals) -> None:
        """Signal the child (if alive), wait for it, close the log handle."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                process.wait()
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


def _finalize(runtime: _Runtime) -> None:
    """Last-resort cleanup for an instance that was never closed."""
    runtime.reap(signal.SIGKILL)
    if runtime.remove_workdir:
        shutil.rmtree(runtime.workdir, ignore_errors=True)


class _PortInUse(Exception):
    """slapd could not bind its TCP port."""


class Slapd:
    """One private slapd: cn=config + back-mdb in a temp dir, on loopback and ldapi.

    The database starts empty (no suffix entry): load a base LDIF with
    :meth:`ldapadd` or call :meth:`create_suffix`. Anonymous clients may read
    everything; ``admin_dn`` (the rootdn) writes; the current uid/gid manages
    cn=config over ldapi with SASL EXTERNAL (:meth:`ldapmodify_config`).

    Production-like options: ``size_limit`` is the frontend ``olcSizeLimit`` (OpenLDAP's
    default is 500; the rootdn is exempt), ``access`` are ``olcAccess`` rules (without the
    ``{n}`` prefix) tried before the default "everyone reads" rule, e.g. write for a
    service account on one subtree; ``time_limit`` is the frontend ``olcTimeLimit``,
    ``limits`` are the database's ``olcLimits`` lines (without ``{n}``) and
    ``frontend_access`` the frontend's ``olcAccess`` rules (they govern the rootDSE and
    ``cn=Subschema``). :class:`ProductionSlapd` combines them into a realistic site.

    Topologies (:mod:`ara_ldap.testing.topology`): ``tls`` (:class:`TlsFiles`) adds StartTLS
    and an ldaps:// listener (:attr:`ldaps_url`), ``db_config`` extra database lines such as
    ``olcSyncrepl``/``olcUpdateRef``, ``admin_password`` a rootdn password shared by nodes;
    ``modules``, ``global_config`` (cn=config lines) and ``extra_config`` (LDIF entries
    appended to cn=config) build delta-syncrepl and multi-provider nodes.
    """

    def __init__(
        self,
        *,
        suffix: str = "dc=example,dc=org",
        schema_ldifs: Sequence[Path] = (),
        workdir: Path | None = None,
        port: int | None = None,
        slapd_path: Path | None = None,
        slapadd_path: Path | None = None,
        ldapadd_path: Path | None = None,
        ldapmodify_path: Path | None = None,
        log_level: str = "none",
        startup_timeout: float = 10.0,
        indexes: Sequence[str] = (),
        tool_timeout: float = 300.0,
        syncprov: bool = True,
        size_limit: str = "unlimited",
        access: Sequence[str] = (),
        time_limit: str = "unlimited",
        limits: Sequence[str] = (),
        frontend_access: Sequence[str] = (),
        tls: TlsFiles | None = None,
        db_config: Sequence[str] = (),
        admin_password: str | None = None,
        modules: Sequence[str] = (),
        global_config: Sequence[str] = (),
        extra_config: Sequence[str] = (),
    ) -> None:
        self._slapd = self._tool("slapd", slapd_path)
        self._slapadd = self._tool("slapadd", slapadd_path)
        self._ldapadd = self._tool("ldapadd", ldapadd_path)
        self._ldapmodify = self._tool("ldapmodify", ldapmodify_path)
        for name in STANDARD_SCHEMAS:
            if not (SYSTEM_SCHEMA_DIR / f"{name}.ldif").is_file():
                raise SlapdError(f"{SYSTEM_SCHEMA_DIR / name}.ldif not found: {INSTALL_HINT}")
        self._schema_ldifs = tuple(Path(path).resolve() for path in schema_ldifs)
        for path in self._schema_ldifs:
            if not path.is_file():
                raise SlapdError(f"schema LDIF not found: {path}")

        self._suffix = suffix
        self._log_level = log_level
        self._startup_timeout = startup_timeout
        self._tool_timeout = tool_timeout
        self._indexes = tuple(indexes)
        self._syncprov = syncprov
        # A production-like directory: olcSizeLimit (frontend; the rootdn is exempt) and
        # olcAccess rules tried before the default "read for everyone" rule.
        self._size_limit = size_limit
        self._access = tuple(access)
        # olcTimeLimit (frontend), olcLimits (per identity, on the database) and olcAccess
        # on the frontend (rootDSE and cn=Subschema, which no database holds).
        self._time_limit = time_limit
        self._limits = tuple(limits)
        self._frontend_access = tuple(frontend_access)
        # TLS (StartTLS on the ldap:// port, plus an ldaps:// listener) and extra database
        # lines (LDIF "attr: value"), e.g. olcSyncrepl and olcUpdateRef of a consumer.
        self._tls = tls
        self._db_config = tuple(db_config)
        # Delta-syncrepl and multi-provider: more modules (accesslog), cn=config lines
        # (olcServerID) and whole LDIF entries after the database's (another database,
        # overlays).
        self._modules = tuple(modules)
        self._global_config = tuple(global_config)
        self._extra_config = tuple(extra_config)
        self._tls_port = free_port() if tls is not None else None
        self._auto_port = port is None
        self._port = free_port() if port is None else port
        self._configured = False
        self._started_once = False
        self._closed = False
        # One password on every node of a topology lets one config bind to any of them.
        self._password = admin_password or secrets.token_urlsafe(24)

        if workdir is None:
            directory = Path(tempfile.mkdtemp(prefix="ara-slapd-"))
        else:
            directory = Path(workdir).absolute()
            if directory.exists() and any(directory.iterdir()):
                raise SlapdError(
                    f"work directory {directory} is not empty: pass an empty or "
                    "missing directory (close() deletes it)"
                )
        socket_path = os.fsencode(directory / "ldapi")
        if len(socket_path) > _MAX_SOCKET_PATH:
            if workdir is None:
                shutil.rmtree(directory, ignore_errors=True)
            raise SlapdError(
                f"ldapi socket path {directory / 'ldapi'} is {len(socket_path)} "
                f"bytes, over the {_MAX_SOCKET_PATH}-byte limit: use a shorter "
                "workdir (or TMPDIR)"
            )
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._workdir = directory

        self._runtime = _Runtime(workdir=directory, remove_workdir=workdir is None)
        self._finalizer = weakref.finalize(self, _finalize, self._runtime)

        # ldapadd -y reads the file verbatim: no trailing newline.
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._password)

    # -- properties -------------------------------------------------------

    @property
    def suffix(self) -> str:
        """The database suffix (naming context)."""
        return self._suffix

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 (may change during the first start if it was taken)."""
        return self._port

    @property
    def url(self) -> str:
        """LDAP URL of the TCP listener."""
        return f"ldap://127.0.0.1:{self._port}/"

    @property
    def ldaps_url(self) -> str:
        """LDAP-over-TLS URL of the ldaps listener (only with ``tls``)."""
        if self._tls_port is None:
            raise SlapdError("this instance has no ldaps listener: pass tls=TlsFiles(...)")
        return f"ldaps://127.0.0.1:{self._tls_port}/"

    @property
    def tls(self) -> TlsFiles | None:
        """The server's TLS files, if it speaks TLS."""
        return self._tls

    @property
    def ldapi_path(self) -> Path:
        """File-system path of the ldapi (Unix domain) socket."""
        return self._workdir / "ldapi"

    @property
    def ldapi_url(self) -> str:
        """The ldapi URL (socket path percent-encoded, ``/`` as ``%2F``)."""
        return "ldapi://" + urllib.parse.quote(str(self.ldapi_path), safe="")

    @property
    def admin_dn(self) -> str:
        """The rootdn: may write anything, bypassing ACLs."""
        return f"cn=admin,{self._suffix}"

    @property
    def admin_password(self) -> str:
        """The rootdn's random per-instance password."""
        return self._password

    @property
    def password_file(self) -> Path:
        """File holding the admin password verbatim (mode 0600), for ``ldap* -y``."""
        return self._workdir / "admin.pw"

    @property
    def workdir(self) -> Path:
        """The instance directory (config, data, socket, logs)."""
        return self._workdir

    @property
    def log_path(self) -> Path:
        """The slapd stderr log (appended to across restarts)."""
        return self._workdir / "slapd.log"

    @property
    def pid(self) -> int | None:
        """The slapd process id while it runs."""
        process = self._runtime.process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the slapd child process is alive."""
        return self.pid is not None

    def __repr__(self) -> str:
        return (
            f"<Slapd suffix={self._suffix!r} url={self.url!r} "
            f"workdir={str(self._workdir)!r} running={self.running}>"
        )

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Start slapd and wait until it answers LDAP; a no-op while it runs.

        The configuration is generated on the first start only, so a later
        start (after :meth:`stop` or :meth:`kill`) reuses data and port.
        """
        if self._closed:
            raise SlapdError(f"{self!r} is closed: create a new instance")
        if self.running:
            return
        if not self._configured:
            self._configure()
        attempts = _PORT_RETRIES if self._auto_port and not self._started_once else 1
        for attempt in range(1, attempts + 1):
            try:
                self._spawn()
            except _PortInUse as exc:
                if attempt < attempts:
                    self._port = free_port()
                    if self._tls_port is not None:
                        self._tls_port = free_port()
                    continue
                raise SlapdError(
                    f"TCP port {self._port} on 127.0.0.1 is in use; slapd said:\n{exc}"
                ) from None
            break
        self._started_once = True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop slapd (SIGTERM, then SIGKILL after ``timeout`` s); keeps data."""
        process = self._runtime.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._runtime.reap(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL slapd and wait: a simulated crash (data stays for a restart)."""
        self._runtime.reap(signal.SIGKILL)

    def freeze(self, timeout: float = 5.0) -> None:
        """SIGSTOP slapd and wait until every thread is stopped (kill() returns before
        they are: a request sent at once may still be answered): a hung directory."""
        pid = self.pid
        if pid is None:
            raise SlapdError(f"{self!r} is not running")
        os.kill(pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{pid}/task")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            states = []
            for stat in tasks.glob("*/stat"):
                with contextlib.suppress(OSError):
                    states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            if states and all(state in ("T", "t") for state in states):
                return
            time.sleep(0.005)
        raise SlapdError(f"slapd {pid} did not stop within {timeout} s")

    def thaw(self) -> None:
        """Resume slapd after :meth:`freeze` (a no-op if it is not running)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again: same port, same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop slapd and delete the work directory; idempotent."""
        self.stop()
        self._closed = True
        self._finalizer.detach()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- loading data -------------------------------------------------------

    def slapadd(self, *paths: Path) -> None:
        """Bulk-load LDIF files offline (``slapadd -q``) while slapd is stopped, e.g.
        before the first start: far faster than ldapadd for 100k-entry benchmarks.  The
        files must hold the suffix entry first; entryUUID/entryCSN are generated."""
        if self.running:
            raise SlapdError("slapadd needs slapd stopped")
        if not self._configured:
            self._configure()
        slapd_d = str(self._workdir / "slapd.d")
        for path in paths:
            command = [str(self._slapadd), "-q", "-F", slapd_d, "-b", self._suffix]
            result = self._run_tool([*command, "-l", str(path)], None, ldap_client=False)
            if result.returncode != 0:
                raise SlapdError(self._tool_failure(f"slapadd of {path}", result))

    def ldapadd(self, *paths: Path, continue_on_error: bool = False) -> None:
        """Add the entries of LDIF files as the rootdn, file by file.

        ``continue_on_error`` passes ``-c`` and goes on with the next files,
        then raises one SlapdError naming every file that had a failure.
        """
        self._require_running("ldapadd")
        failures: list[str] = []
        for path in paths:
            if not Path(path).is_file():
                message = f"LDIF file not found: {path}"
            else:
                result = self._run_ldapadd(["-f", str(path)], None, continue_on_error)
                if result.returncode == 0:
                    continue
                message = self._tool_failure(f"ldapadd of {path}", result)
            if not continue_on_error:
                raise SlapdError(message)
            failures.append(message)
        if failures:
            raise SlapdError("\n".join(failures))

    def ldapadd_text(self, ldif: str, *, continue_on_error: bool = False) -> None:
        """Add the entries of an LDIF string as the rootdn (fed on stdin)."""
        self._require_running("ldapadd")
        result = self._run_ldapadd([], ldif, continue_on_error)
        if result.returncode != 0:
            raise SlapdError(self._tool_failure("ldapadd of LDIF text", result))

    def ldapmodify_text(self, ldif: str) -> None:
        """Apply LDIF change records (``changetype: modify|add|delete|modrdn``) as the
        rootdn: a change made beside ara-ldap, as an admin's ldapmodify would."""
        self._require_running("ldapmodify")
        command = [
            str(self._ldapmodify),
            "-x",
            "-H",
            self.url,
            "-D",
            self.admin_dn,
            "-y",
            str(self.password_file),
        ]
        result = self._run_tool(command, ldif)
        if result.returncode != 0:
            raise SlapdError(self._tool_failure("ldapmodify", result))

    @property
    def syncprov(self) -> bool:
        """Whether the database runs the syncprov overlay (syncrepl provider)."""
        return self._syncprov

    def ldapmodify_config(self, ldif: str) -> None:
        """Apply LDIF change records to cn=config over ldapi with SASL EXTERNAL."""
        self._require_running("ldapmodify")
        command = [str(self._ldapmodify), "-Q", "-Y", "EXTERNAL", "-H", self.ldapi_url]
        result = self._run_tool(command, ldif)
        if result.returncode != 0:
            raise SlapdError(self._tool_failure("ldapmodify of cn=config", result))

    def create_suffix(self) -> None:
        """Add the suffix entry itself, for users without a base LDIF.

        Supports single-valued ``dc=``, ``o=`` and ``ou=`` first RDNs.
        """
        rdn = self._suffix.split(",", 1)[0]
        attribute, _, value = rdn.partition("=")
        attribute = attribute.strip().lower()
        value = value.strip()
        object_classes = {
            "dc": ("dcObject", "organization"),
            "o": ("organization",),
            "ou": ("organizationalUnit",),
        }.get(attribute)
        if object_classes is None or not value or "\\" in rdn or "+" in rdn:
            raise SlapdError(
                f"create_suffix() cannot build an entry for {self._suffix!r} "
                "(supported: a plain dc=, o= or ou= first RDN): add it with "
                "ldapadd_text() instead"
            )
        lines = [ldif_line("dn", self._suffix), "objectClass: top"]
        lines += [f"objectClass: {name}" for name in object_classes]
        lines.append(ldif_line(attribute, value))
        if attribute == "dc":
            lines.append(ldif_line("o", value))
        self.ldapadd_text("\n".join(lines) + "\n")

    # -- internals ----------------------------------------------------------

    @staticmethod
    def _tool(name: str, given: Path | None) -> Path:
        """Resolve one executable, failing with the install hint."""
        path = Path(given) if given is not None else find_tool(name)
        if path is None or not (path.is_file() and os.access(path, os.X_OK)):
            where = f" at {given}" if given is not None else ""
            raise SlapdError(f"{name} not found{where}: {INSTALL_HINT}")
        return path

    def _scrub(self, text: str) -> str:
        """Never let the password reach an exception or a log excerpt."""
        return text.replace(self._password, _REDACTED)

    def _require_running(self, what: str) -> None:
        if not self.running:
            raise SlapdError(f"cannot run {what}: slapd is not running ({self!r}); call start()")

    def _config_ldif(self) -> str:
        """cn=config for this instance (slapd.md section 6; syncprov unless disabled, so
        the change-driven cache has a stream to follow)."""
        workdir = self._workdir
        peer = f"gidNumber={os.getegid()}+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth"
        includes = [(SYSTEM_SCHEMA_DIR / f"{name}.ldif").as_uri() for name in STANDARD_SCHEMAS]
        includes += [path.as_uri() for path in self._schema_ldifs]
        indexes = [
            "objectClass eq",
            "cn eq,sub",
            "uid eq",
            "entryCSN eq",
            "entryUUID eq",
            *self._indexes,
        ]
        blocks = [
            [
                "dn: cn=config",
                "objectClass: olcGlobal",
                "cn: config",
                ldif_line("olcPidFile", str(workdir / "slapd.pid")),
                ldif_line("olcArgsFile", str(workdir / "slapd.args")),
                ldif_line("olcLogLevel", self._log_level),
                *self._tls_lines(),
                *self._global_config,
            ],
            [
                "dn: cn=module{0},cn=config",
                "objectClass: olcModuleList",
                "cn: module{0}",
                ldif_line("olcModulePath", str(MODULE_PATH)),
                "olcModuleLoad: back_mdb",
                *(["olcModuleLoad: syncprov"] if self._syncprov else []),
                *(ldif_line("olcModuleLoad", name) for name in self._modules),
            ],
            ["dn: cn=schema,cn=config", "objectClass: olcSchemaConfig", "cn: schema"],
            *([f"include: {uri}"] for uri in includes),
            [
                "dn: olcDatabase={-1}frontend,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcFrontendConfig",
                "olcDatabase: {-1}frontend",
                ldif_line("olcSizeLimit", self._size_limit),
                ldif_line("olcTimeLimit", self._time_limit),
                *(
                    ldif_line("olcAccess", f"{{{i}}}{rule}")
                    for i, rule in enumerate(self._frontend_access)
                ),
            ],
            [
                "dn: olcDatabase={0}config,cn=config",
                "objectClass: olcDatabaseConfig",
                "olcDatabase: {0}config",
                f"olcAccess: {{0}}to * by dn.exact={peer} manage by * none",
            ],
            [
                "dn: olcDatabase={1}mdb,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcMdbConfig",
                "olcDatabase: {1}mdb",
                "olcDbMaxSize: 1073741824",
                ldif_line("olcSuffix", self._suffix),
                ldif_line("olcRootDN", self.admin_dn),
                ldif_line("olcRootPW", _ssha(self._password)),
                ldif_line("olcDbDirectory", str(workdir / "data")),
                "olcDbNoSync: TRUE",
                *(ldif_line("olcDbIndex", index) for index in indexes),
                *(ldif_line("olcLimits", f"{{{i}}}{line}") for i, line in enumerate(self._limits)),
                *(ldif_line("olcAccess", f"{{{i}}}{rule}") for i, rule in enumerate(self._access)),
                f"olcAccess: {{{len(self._access)}}}to * by dn.exact={peer} manage by * read",
                *self._db_config,
            ],
        ]
        if self._syncprov:
            blocks.append(
                [
                    "dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config",
                    "objectClass: olcOverlayConfig",
                    "objectClass: olcSyncProvConfig",
                    "olcOverlay: {0}syncprov",
                    "olcSpCheckpoint: 100 10",
                    "olcSpSessionlog: 1000",
                ]
            )
        blocks += [block.strip().splitlines() for block in self._extra_config]
        return "\n\n".join("\n".join(block) for block in blocks) + "\n"

    def _tls_lines(self) -> list[str]:
        """cn=config's TLS attributes (slapd on Debian is linked with GnuTLS)."""
        if self._tls is None:
            return []
        return [
            ldif_line("olcTLSCACertificateFile", str(self._tls.ca)),
            ldif_line("olcTLSCertificateFile", str(self._tls.cert)),
            ldif_line("olcTLSCertificateKeyFile", str(self._tls.key)),
            ldif_line("olcTLSVerifyClient", self._tls.verify_client),
        ]

    def _configure(self) -> None:
        """Build slapd.d with slapadd -n0; leaves no half-built config on failure."""
        slapd_d = self._workdir / "slapd.d"
        data = self._workdir / "data"
        for directory in (slapd_d, data):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(mode=0o700)
        config = self._workdir / "config.ldif"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._config_ldif())
        command = [str(self._slapadd), "-n0", "-F", str(slapd_d), "-l", str(config)]
        result = self._run_tool(command, None, ldap_client=False)
        output = self._scrub((result.stdout + result.stderr).strip())
        (self._workdir / "slapadd.log").write_text(output + "\n")
        if result.returncode != 0:
            shutil.rmtree(slapd_d, ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)
            tail = "\n".join(output.splitlines()[-_LOG_TAIL_LINES:])
            schemas = ", ".join(str(path) for path in self._schema_ldifs) or "none"
            raise SlapdError(
                f"slapadd could not build cn=config (exit {result.returncode}); "
                f"check the schema LDIFs (extra: {schemas}) and suffix "
                f"{self._suffix!r}. "
                f"slapadd said:\n{tail}"
            )
        self._configured = True

    def _spawn(self) -> None:
        """Run slapd as a foreground child and poll until it answers, or raise."""
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        # "-d none" keeps slapd in the foreground and prints only the messages
        # logged at any level (errors such as a failed bind), unlike "-d 0".
        command = [
            str(self._slapd),
            "-h",
            " ".join([self.url, self.ldapi_url, *([self.ldaps_url] if self._tls else [])]),
            "-F",
            str(self._workdir / "slapd.d"),
            "-d",
            self._log_level,
        ]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                close_fds=True,
            )
        except OSError as exc:
            log.close()
            raise SlapdError(f"cannot execute {self._slapd}: {exc}") from exc
        self._runtime.process = process
        self._runtime.log = log

        deadline = time.monotonic() + self._startup_timeout
        while True:
            # ldapi lives in our private directory, so an answer there proves
            # that this child is serving (slapd binds every listener before
            # accepting any): a foreign server on our TCP port cannot fool us.
            remaining = max(deadline - time.monotonic(), 0.05)
            probe_timeout = min(remaining, 0.5)
            if _probe(socket.AF_UNIX, str(self.ldapi_path), probe_timeout) and _probe(
                socket.AF_INET, ("127.0.0.1", self._port), probe_timeout
            ):
                return
            returncode = process.poll()
            if returncode is not None:
                self._runtime.reap(signal.SIGKILL)
                tail = self._log_tail(log_offset)
                if "Address already in use" in tail:
                    raise _PortInUse(tail)
                raise SlapdError(
                    f"slapd exited with status {returncode} while starting; last "
                    f"lines of {self.log_path}:\n{tail}"
                )
            if time.monotonic() >= deadline:
                self._runtime.reap(signal.SIGKILL)
                raise SlapdError(
                    f"slapd did not answer on {self.url} within "
                    f"{self._startup_timeout} s; "
                    f"last lines of {self.log_path}:\n{self._log_tail(log_offset)}"
                )
            time.sleep(_POLL_INTERVAL)

    def _log_tail(self, offset: int) -> str:
        """Return the last lines slapd wrote since ``offset``, password-scrubbed."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
        return self._scrub("\n".join(lines)) if lines else "(slapd wrote nothing)"

    def _run_tool(
        self, command: list[str], stdin: str | None, *, ldap_client: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run an OpenLDAP tool with a timeout; clients ignore ldap.conf/ldaprc."""
        env = dict(os.environ)
        if ldap_client:
            # Hermetic: ~/.ldaprc or /etc/ldap/ldap.conf must not change the run.
            env["LDAPNOINIT"] = "1"
        try:
            return subprocess.run(
                command,
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=self._tool_timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SlapdError(
                f"{Path(command[0]).name} did not finish within {self._tool_timeout} s"
            ) from None
        except OSError as exc:
            raise SlapdError(f"cannot execute {command[0]}: {exc}") from exc

    def _run_ldapadd(
        self, extra: list[str], stdin: str | None, continue_on_error: bool
    ) -> subprocess.CompletedProcess[str]:
        # -y: the password is read from the 0600 file, never put on the command line.
        command = [
            str(self._ldapadd),
            "-x",
            "-H",
            self.url,
            "-D",
            self.admin_dn,
            "-y",
            str(self.password_file),
        ]
        if continue_on_error:
            command.append("-c")
        return self._run_tool(command + extra, stdin)

    def _tool_failure(self, what: str, result: subprocess.CompletedProcess[str]) -> str:
        """Describe a failed tool run with its (scrubbed) stderr."""
        detail = (result.stderr.strip() or result.stdout.strip() or "(no output)")[-4000:]
        return self._scrub(f"{what} failed (exit {result.returncode}): {detail}")


def asterisk_slapd(*, schema_ldifs: Sequence[Path] = (), **kwargs: Any) -> Slapd:
    """Build a :class:`Slapd` with the project's schemas (Asterisk and PJSIP, plus extra
    ones; a path already included is not loaded twice)."""
    own = find_schema_ldifs()
    extra = [p for p in schema_ldifs if Path(p).resolve() not in {o.resolve() for o in own}]
    kwargs["indexes"] = [*PJSIP_INDEXES, *kwargs.get("indexes", ())]
    return Slapd(schema_ldifs=[*own, *extra], **kwargs)


#: The subtrees (below the suffix) the shipped families live in: the service account's.
ASTERISK_SUBTREES: tuple[str, ...] = ("ou=asterisk", "ou=pjsip", "ou=pjsip-volatile")
#: OpenLDAP's default ``olcSizeLimit``.
OPENLDAP_SIZE_LIMIT = 500


class ProductionSlapd(Slapd):
    """A directory shaped like a production site, for tests that must not pass only because
    they bind as the rootdn (which no ACL or limit applies to).

    * a service account (``service_dn``, password in ``service_password_file``) that may
      write the Asterisk subtrees (``subtrees``, below the suffix) and read nothing else;
      the syncrepl consumer of the change-driven cache binds as it, so it reads its
      subtrees, entryCSN included;
    * ``size_limit`` (OpenLDAP's default is 500; tests use a small one, e.g. 3, so that it
      bites cheaply) and ``time_limit`` in seconds; with ``paged_unlimited`` the service
      account gets ``size.prtotal=unlimited`` (paged searches pass, unpaged ones stop at
      the limit), without it paged results are capped too (OpenLDAP's default);
    * ``schema_readable=False`` hides ``cn=Subschema`` from everyone;
    * :meth:`add_foreign_entries`: entries another tool wrote below the family bases
      (another object class, other RDNs, a child), which no family's filter selects.

    The service account entry is added by :meth:`create_suffix` (or call
    :meth:`add_service_account` after loading a base LDIF).
    """

    def __init__(
        self,
        *,
        suffix: str = "dc=example,dc=org",
        size_limit: int = OPENLDAP_SIZE_LIMIT,
        paged_unlimited: bool = True,
        time_limit: int = 60,
        schema_readable: bool = True,
        subtrees: Sequence[str] = ASTERISK_SUBTREES,
        access: Sequence[str] = (),
        limits: Sequence[str] = (),
        frontend_access: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        self.service_dn = f"cn=ara-service,{suffix}"
        self.service_password = secrets.token_urlsafe(18)
        self.schema_readable = schema_readable
        self.size_limit = size_limit
        self.paged_unlimited = paged_unlimited
        #: What :meth:`add_foreign_entries` added, parents first.
        self.foreign_dns: list[str] = []
        who = f'dn.exact="{self.service_dn}"'
        rules = [
            "to attrs=userPassword by anonymous auth by * none",
            *access,
            *(f'to dn.subtree="{sub},{suffix}" by {who} write by * none' for sub in subtrees),
            f"to * by {who} none by * break",
        ]
        lines = list(limits)
        if paged_unlimited:
            lines.append(
                f"{who} size.soft={size_limit} size.hard={size_limit} size.prtotal=unlimited"
            )
        front = list(frontend_access)
        if not schema_readable:
            front += ['to dn.base="" by * read', 'to dn.base="cn=Subschema" by * none']
        super().__init__(
            suffix=suffix,
            size_limit=str(size_limit),
            time_limit=str(time_limit),
            access=rules,
            limits=lines,
            frontend_access=front,
            **kwargs,
        )
        fd = os.open(self.service_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.service_password)

    @property
    def service_password_file(self) -> Path:
        """The service account's password verbatim (mode 0600), for ``password_file``."""
        return self.workdir / "service.pw"

    @property
    def limits_line(self) -> str:
        """The ``olcLimits`` value that lets the service account page past every limit."""
        return (
            f'dn.exact="{self.service_dn}" size.soft=unlimited size.hard=unlimited '
            "size.prtotal=unlimited"
        )

    def create_suffix(self) -> None:
        """The suffix entry, then the service account below it."""
        super().create_suffix()
        self.add_service_account()

    def add_service_account(self) -> None:
        """Add the service account entry (the suffix must exist)."""
        rdn_value = self.service_dn.split(",", 1)[0].partition("=")[2]
        self.ldapadd_text(
            "\n".join(
                [
                    ldif_line("dn", self.service_dn),
                    "objectClass: organizationalRole",
                    "objectClass: simpleSecurityObject",
                    ldif_line("cn", rdn_value),
                    ldif_line("userPassword", _ssha(self.service_password)),
                ]
            )
            + "\n"
        )

    def add_foreign_entries(self, bases: Sequence[str]) -> list[str]:
        """Below each existing ``base``: an ``ou=`` another tool made, holding a ``device``
        whose child is another ``device`` (other classes, other RDNs, children).  Returns
        their DNs, parents first."""
        dns: list[str] = []
        blocks: list[str] = []
        for base in bases:
            ou = f"ou=managed-by-other-tool,{base}"
            phone = f"cn=desk phone 1,{ou}"
            line = f"cn=line 1,{phone}"
            blocks += [
                f"{ldif_line('dn', ou)}\nobjectClass: organizationalUnit\n"
                "ou: managed-by-other-tool\ndescription: not an Asterisk record",
                f"{ldif_line('dn', phone)}\nobjectClass: device\ncn: desk phone 1\n"
                "serialNumber: 0042",
                f"{ldif_line('dn', line)}\nobjectClass: device\ncn: line 1",
            ]
            dns += [ou, phone, line]
        if blocks:
            self.ldapadd_text("\n\n".join(blocks) + "\n")
        self.foreign_dns += dns
        return dns


def production_slapd(*, schema_ldifs: Sequence[Path] = (), **kwargs: Any) -> ProductionSlapd:
    """A :class:`ProductionSlapd` with the project's schemas (as :func:`asterisk_slapd`)."""
    own = find_schema_ldifs()
    extra = [p for p in schema_ldifs if Path(p).resolve() not in {o.resolve() for o in own}]
    kwargs["indexes"] = [*PJSIP_INDEXES, *kwargs.get("indexes", ())]
    return ProductionSlapd(schema_ldifs=[*own, *extra], **kwargs)
