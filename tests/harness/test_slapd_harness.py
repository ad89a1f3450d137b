"""Behaviour of the throwaway-slapd harness and of its pytest plugin.

Every test runs a real slapd; nothing is mocked except "slapd is missing".
"""

from __future__ import annotations

import gc
import os
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ara_ldap.testing.slapd import (
    Slapd,
    SlapdError,
    _is_bind_response,
    find_fixture_ldifs,
    find_schema_ldif,
    free_port,
    ldif_first_dn,
    missing_tools,
)

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="slapd/ldap-utils not installed")

REPO = Path(__file__).resolve().parents[2]
TOOL_ENV = {**os.environ, "LDAPNOINIT": "1"}

CUSTOM_SCHEMA = """\
dn: cn=custom,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: custom
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1 NAME 'exampleTag'
  DESC 'multi-valued free-form tag'
  EQUALITY caseIgnoreMatch
  SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )
olcObjectClasses: ( 1.3.6.1.4.1.99999.2.1 NAME 'exampleObject'
  DESC 'auxiliary class for test entries'
  SUP top AUXILIARY
  MAY exampleTag )
"""

BROKEN_SCHEMA = """\
dn: cn=broken,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: broken
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.9 NAME 'brokenAttr' SYNTAX no-such-syntax )
"""


def person_ldif(name: str, suffix: str = "dc=example,dc=org") -> str:
    return textwrap.dedent(
        f"""\
        dn: cn={name},{suffix}
        objectClass: person
        cn: {name}
        sn: {name}
        """
    )


def ldapsearch(
    url: str, base: str, *args: str, scope: str = "sub"
) -> subprocess.CompletedProcess[str]:
    command = ["ldapsearch", "-x", "-LLL", "-H", url, "-b", base, "-s", scope, *args]
    return subprocess.run(command, capture_output=True, text=True, env=TOOL_ENV, check=False)


def child_slapd_pids() -> set[int]:
    """List the slapd processes whose parent is this test process."""
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")]
        ppid = int(stat_line[stat_line.rindex(")") + 2 :].split()[1])
        if comm == "slapd" and ppid == os.getpid():
            pids.add(int(entry.name))
    return pids


def process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    """Run an instance with the suffix entry; close it afterwards."""
    with Slapd() as instance:
        instance.create_suffix()
        yield instance


@pytest.fixture
def custom_schema(tmp_path: Path) -> Path:
    path = tmp_path / "custom.ldif"
    path.write_text(CUSTOM_SCHEMA)
    return path


# -- starting and serving ------------------------------------------------------


def test_start_answers_anonymous_rootdse_read() -> None:
    with Slapd() as instance:
        result = ldapsearch(instance.url, "", "namingContexts", scope="base")
    assert result.returncode == 0, result.stderr
    assert "namingContexts: dc=example,dc=org" in result.stdout


def test_ldapi_url_answers_sasl_external_as_current_user(slapd: Slapd) -> None:
    result = subprocess.run(
        ["ldapwhoami", "-Q", "-Y", "EXTERNAL", "-H", slapd.ldapi_url],
        capture_output=True,
        text=True,
        env=TOOL_ENV,
        check=False,
    )
    assert result.stdout.strip() == (
        f"dn:gidNumber={os.getegid()}+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth"
    )


def test_database_starts_empty_without_suffix_entry() -> None:
    with Slapd() as instance:
        result = ldapsearch(instance.url, instance.suffix, scope="base")
    assert result.returncode == 32, result.stdout  # noSuchObject


def test_create_suffix_adds_dc_object_entry(slapd: Slapd) -> None:
    result = ldapsearch(slapd.url, slapd.suffix, "objectClass", "dc", scope="base")
    assert "objectClass: dcObject" in result.stdout
    assert "dc: example" in result.stdout


def test_custom_suffix_is_served_and_created() -> None:
    with Slapd(suffix="ou=pbx,o=acme") as instance:
        instance.create_suffix()
        result = ldapsearch(instance.url, "ou=pbx,o=acme", "ou", scope="base")
    assert "ou: pbx" in result.stdout


def test_anonymous_search_is_not_size_limited(slapd: Slapd) -> None:
    slapd.ldapadd_text("\n".join(person_ldif(f"p{i:03d}") for i in range(510)))
    result = ldapsearch(slapd.url, slapd.suffix, "(objectClass=person)", "1.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("dn: ") == 510


def test_anonymous_write_is_refused(slapd: Slapd) -> None:
    result = subprocess.run(
        ["ldapadd", "-x", "-H", slapd.url],
        input=person_ldif("anon"),
        capture_output=True,
        text=True,
        env=TOOL_ENV,
        check=False,
    )
    assert result.returncode != 0


def test_extra_schema_ldif_is_loaded(custom_schema: Path) -> None:
    with Slapd(schema_ldifs=[custom_schema]) as instance:
        instance.create_suffix()
        tagged = person_ldif("tagged") + "objectClass: exampleObject\nexampleTag: red\n"
        instance.ldapadd_text(tagged)
        result = ldapsearch(instance.url, instance.suffix, "(exampleTag=red)", "cn")
    assert "cn: tagged" in result.stdout


def test_extra_indexes_are_configured(custom_schema: Path) -> None:
    with Slapd(schema_ldifs=[custom_schema], indexes=["exampleTag eq"]) as instance:
        result = subprocess.run(
            [
                "ldapsearch",
                "-Q",
                "-LLL",
                "-Y",
                "EXTERNAL",
                "-H",
                instance.ldapi_url,
                "-b",
                "olcDatabase={1}mdb,cn=config",
                "-s",
                "base",
                "olcDbIndex",
            ],
            capture_output=True,
            text=True,
            env=TOOL_ENV,
            check=False,
        )
    assert "olcDbIndex: exampleTag eq" in result.stdout


def test_project_schema_and_fixtures_load() -> None:
    from ara_ldap.testing.slapd import asterisk_slapd

    fixtures = find_fixture_ldifs()
    if not fixtures:
        pytest.skip("no fixture LDIFs shipped yet")
    with asterisk_slapd() as instance:
        instance.ldapadd(*fixtures)
        result = ldapsearch(instance.url, instance.suffix, "(objectClass=AsteriskSIPUser)", "cn")
    assert result.returncode == 0, result.stderr
    assert "cn: " in result.stdout


# -- credentials ---------------------------------------------------------------


def test_admin_bind_works_with_generated_password_file(slapd: Slapd) -> None:
    result = subprocess.run(
        [
            "ldapwhoami",
            "-x",
            "-H",
            slapd.url,
            "-D",
            slapd.admin_dn,
            "-y",
            str(slapd.password_file),
        ],
        capture_output=True,
        text=True,
        env=TOOL_ENV,
        check=False,
    )
    assert result.stdout.strip() == f"dn:{slapd.admin_dn}", result.stderr


def test_password_file_is_private_and_holds_password_verbatim() -> None:
    instance = Slapd()
    try:
        mode = stat.S_IMODE(instance.password_file.stat().st_mode)
        assert mode == 0o600
        assert instance.password_file.read_text() == instance.admin_password
    finally:
        instance.close()


def test_each_instance_gets_its_own_random_password() -> None:
    first, second = Slapd(), Slapd()
    try:
        assert first.admin_password != second.admin_password
        assert len(first.admin_password) >= 24
    finally:
        first.close()
        second.close()


def test_password_is_not_stored_in_plain_text_in_config() -> None:
    with Slapd() as instance:
        workdir = instance.workdir
        config_files = [workdir / "config.ldif", *workdir.glob("slapd.d/**/*.ldif")]
        for path in config_files:
            assert instance.admin_password not in path.read_text(), path


def test_repr_does_not_contain_password(slapd: Slapd) -> None:
    assert slapd.admin_password not in repr(slapd)
    assert slapd.url in repr(slapd)


def test_ldapadd_error_does_not_contain_password(slapd: Slapd) -> None:
    with pytest.raises(SlapdError) as caught:
        slapd.ldapadd_text(f"dn: cn={slapd.admin_password},dc=elsewhere\nobjectClass: person\n")
    assert slapd.admin_password not in str(caught.value)


# -- lifecycle -------------------------------------------------------------------


def test_restart_keeps_data_and_port(slapd: Slapd) -> None:
    slapd.ldapadd_text(person_ldif("kept"))
    port, pid = slapd.port, slapd.pid
    slapd.restart()
    assert (slapd.port, slapd.running) == (port, True)
    assert slapd.pid != pid
    assert "cn: kept" in ldapsearch(slapd.url, slapd.suffix, "(cn=kept)", "cn").stdout


def test_kill_then_start_keeps_data(slapd: Slapd) -> None:
    slapd.ldapadd_text(person_ldif("survivor"))
    slapd.kill()
    assert not slapd.running
    slapd.start()
    assert "cn: survivor" in ldapsearch(slapd.url, slapd.suffix, "(cn=survivor)", "cn").stdout


def test_kill_leaves_no_process(slapd: Slapd) -> None:
    pid = slapd.pid
    assert pid is not None
    slapd.kill()
    assert slapd.pid is None
    assert not process_exists(pid)


def test_stop_is_idempotent(slapd: Slapd) -> None:
    pid = slapd.pid
    assert pid is not None
    slapd.stop()
    slapd.stop()
    assert not slapd.running
    assert not process_exists(pid)


def test_stop_before_start_is_a_no_op() -> None:
    instance = Slapd()
    try:
        instance.stop()
        assert not instance.running
    finally:
        instance.close()


def test_start_while_running_is_a_no_op(slapd: Slapd) -> None:
    pid = slapd.pid
    slapd.start()
    assert slapd.pid == pid


def test_close_removes_workdir_and_process() -> None:
    instance = Slapd()
    instance.start()
    pid, workdir = instance.pid, instance.workdir
    assert pid is not None
    instance.close()
    instance.close()
    assert not workdir.exists()
    assert not process_exists(pid)


def test_context_manager_starts_then_closes() -> None:
    with Slapd() as instance:
        assert instance.running
        workdir = instance.workdir
    assert not workdir.exists()
    assert not instance.running


def test_start_after_close_raises() -> None:
    instance = Slapd()
    instance.close()
    with pytest.raises(SlapdError, match="closed"):
        instance.start()


def test_unreferenced_instance_is_killed_and_removed_by_gc() -> None:
    instance = Slapd()
    instance.start()
    pid, workdir = instance.pid, instance.workdir
    assert pid is not None
    del instance
    gc.collect()
    assert not process_exists(pid)
    assert not workdir.exists()


def test_given_workdir_is_used_and_removed_on_close(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    with Slapd(workdir=workdir) as instance:
        assert (workdir / "ldapi").is_socket()
        assert instance.ldapi_url == "ldapi://" + str(workdir / "ldapi").replace("/", "%2F")
    assert not workdir.exists()


def test_non_empty_workdir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SlapdError, match="not empty"):
        Slapd(workdir=tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_workdir_too_long_for_ldapi_socket_is_refused(tmp_path: Path) -> None:
    too_long = tmp_path / ("x" * 120)
    with pytest.raises(SlapdError, match="ldapi socket path"):
        Slapd(workdir=too_long)
    assert not too_long.exists()


# -- ports -------------------------------------------------------------------


def test_second_instance_gets_a_different_port() -> None:
    with Slapd() as first, Slapd() as second:
        assert first.port != second.port
        assert first.url != second.url


def test_auto_port_taken_before_first_start_is_replaced() -> None:
    instance = Slapd()
    try:
        taken = instance.port
        with socket.create_server(("127.0.0.1", taken)):
            instance.start()
            assert instance.port != taken
            assert ldapsearch(instance.url, "", scope="base").returncode == 0
    finally:
        instance.close()


def test_restart_keeps_port_and_fails_clearly_when_it_was_taken(slapd: Slapd) -> None:
    port = slapd.port
    slapd.stop()
    with (
        socket.create_server(("127.0.0.1", port)),
        pytest.raises(SlapdError, match=f"port {port}"),
    ):
        slapd.start()
    assert slapd.port == port


def test_explicit_port_in_use_fails_clearly() -> None:
    port = free_port()
    instance = Slapd(port=port)
    try:
        with (
            socket.create_server(("127.0.0.1", port)),
            pytest.raises(SlapdError, match="in use"),
        ):
            instance.start()
    finally:
        instance.close()


def test_free_port_is_bindable() -> None:
    with socket.create_server(("127.0.0.1", free_port())):
        pass


# -- start failures ------------------------------------------------------------


def test_broken_schema_ldif_fails_start_with_slapadd_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ldif"
    broken.write_text(BROKEN_SCHEMA)
    instance = Slapd(schema_ldifs=[broken])
    try:
        with pytest.raises(SlapdError) as caught:
            instance.start()
        message = str(caught.value)
        assert str(broken) in message
        assert "no-such-syntax" in message
        assert not instance.running
    finally:
        instance.close()


def test_slapd_dying_at_start_raises_with_log_tail(slapd: Slapd) -> None:
    slapd.stop()
    for path in (slapd.workdir / "data").iterdir():
        path.unlink()
    (slapd.workdir / "data").rmdir()
    with pytest.raises(SlapdError) as caught:
        slapd.start()
    message = str(caught.value)
    assert "exited with status" in message
    assert "olcDbDirectory" in message  # slapd's own complaint, from its log
    assert slapd.admin_password not in message


def test_slapd_not_answering_times_out_and_is_killed(tmp_path: Path) -> None:
    fake = tmp_path / "slapd"
    fake.write_text("#!/bin/sh\necho 'fake slapd stuck' >&2\nexec sleep 60\n")
    fake.chmod(0o755)
    instance = Slapd(slapd_path=fake, startup_timeout=0.3)
    try:
        with pytest.raises(SlapdError, match="did not answer") as caught:
            instance.start()
        assert "fake slapd stuck" in str(caught.value)
        assert not instance.running
    finally:
        instance.close()


def test_missing_slapd_binary_raises_install_hint(tmp_path: Path) -> None:
    with pytest.raises(SlapdError, match="apt-get install slapd ldap-utils"):
        Slapd(slapd_path=tmp_path / "no-slapd")


def test_missing_schema_ldif_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SlapdError, match="schema LDIF not found"):
        Slapd(schema_ldifs=[tmp_path / "missing.ldif"])


# -- loading data --------------------------------------------------------------


def test_ldapadd_loads_files_in_order(slapd: Slapd, tmp_path: Path) -> None:
    first, second = tmp_path / "a.ldif", tmp_path / "b.ldif"
    first.write_text(
        "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n"
    )
    second.write_text(person_ldif("ann", "ou=people,dc=example,dc=org"))
    slapd.ldapadd(first, second)
    assert "cn: ann" in ldapsearch(slapd.url, slapd.suffix, "(cn=ann)", "cn").stdout


def test_ldapadd_failure_names_the_file(slapd: Slapd, tmp_path: Path) -> None:
    bad = tmp_path / "orphan.ldif"
    bad.write_text(person_ldif("orphan", "ou=missing,dc=example,dc=org"))
    with pytest.raises(SlapdError) as caught:
        slapd.ldapadd(bad)
    assert str(bad) in str(caught.value)
    assert "No such object" in str(caught.value)


def test_ldapadd_missing_file_names_the_file(slapd: Slapd, tmp_path: Path) -> None:
    with pytest.raises(SlapdError, match=r"missing\.ldif"):
        slapd.ldapadd(tmp_path / "missing.ldif")


def test_ldapadd_continue_on_error_loads_the_rest_then_raises(slapd: Slapd, tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.ldif", tmp_path / "good.ldif"
    bad.write_text(person_ldif("x", "ou=missing,dc=example,dc=org") + "\n" + person_ldif("y"))
    good.write_text(person_ldif("z"))
    with pytest.raises(SlapdError) as caught:
        slapd.ldapadd(bad, good, continue_on_error=True)
    assert str(bad) in str(caught.value)
    assert str(good) not in str(caught.value)
    found = ldapsearch(slapd.url, slapd.suffix, "(objectClass=person)", "cn").stdout
    assert "cn: y" in found
    assert "cn: z" in found


def test_ldapadd_when_stopped_raises_not_running(slapd: Slapd) -> None:
    slapd.stop()
    with pytest.raises(SlapdError, match="not running"):
        slapd.ldapadd_text(person_ldif("late"))


def test_ldapmodify_config_changes_size_limit_over_ldapi(slapd: Slapd) -> None:
    slapd.ldapadd_text("\n".join(person_ldif(f"s{i}") for i in range(3)))
    slapd.ldapmodify_config(
        "dn: olcDatabase={-1}frontend,cn=config\n"
        "changetype: modify\n"
        "replace: olcSizeLimit\n"
        "olcSizeLimit: 2\n"
    )
    result = ldapsearch(slapd.url, slapd.suffix, "(objectClass=person)", "1.1")
    assert result.returncode == 4  # sizeLimitExceeded


def test_ldapmodify_config_failure_raises(slapd: Slapd) -> None:
    with pytest.raises(SlapdError, match="ldapmodify of cn=config failed"):
        slapd.ldapmodify_config(
            "dn: olcDatabase={1}mdb,cn=config\n"
            "changetype: modify\n"
            "add: olcDbIndex\n"
            "olcDbIndex: noSuchAttribute eq\n"
        )


# -- helpers ---------------------------------------------------------------------


def test_bind_response_check_reads_ber_lengths() -> None:
    short = bytes.fromhex("300c02010161070a010004000400")
    long_form = bytes.fromhex("30810c02010161070a010004000400")
    search_entry = bytes.fromhex("300c020101640700000000000000")
    assert _is_bind_response(short) is True
    assert _is_bind_response(long_form) is True
    assert _is_bind_response(search_entry) is False
    assert _is_bind_response(short[:4]) is None
    assert _is_bind_response(b"HTTP/1.1 400") is False


def test_ldif_first_dn_reads_folded_and_base64_dns(tmp_path: Path) -> None:
    folded = tmp_path / "folded.ldif"
    folded.write_text("# comment\nversion: 1\n\ndn: ou=a,dc=exa\n mple,dc=org\nou: a\n")
    encoded = tmp_path / "encoded.ldif"
    encoded.write_text("dn:: Y249SsO8cmdlbixkYz1vcmc=\ncn: x\n")
    assert ldif_first_dn(folded) == "ou=a,dc=example,dc=org"
    assert ldif_first_dn(encoded) == "cn=Jürgen,dc=org"


def test_schema_ldif_is_found_through_package_data() -> None:
    assert find_schema_ldif() == REPO / "ara_ldap" / "data" / "schema" / "asterisk.ldif"


def test_fixture_ldifs_are_sorted_by_name() -> None:
    fixtures = find_fixture_ldifs()
    assert fixtures == sorted(fixtures)
    assert all(path.suffix == ".ldif" for path in fixtures)


# -- pytest plugin -----------------------------------------------------------------


def test_plugin_ara_slapd_empty_holds_only_the_suffix(ara_slapd_empty: Slapd) -> None:
    result = ldapsearch(ara_slapd_empty.url, ara_slapd_empty.suffix, "1.1")
    assert result.stdout.split() == ["dn:", ara_slapd_empty.suffix]


def test_plugin_ara_slapd_serves_shipped_fixtures(ara_slapd: Slapd) -> None:
    fixtures = find_fixture_ldifs()
    expected = ldif_first_dn(fixtures[0]) if fixtures else ara_slapd.suffix
    result = ldapsearch(ara_slapd.url, str(expected), "1.1", scope="base")
    assert result.returncode == 0, result.stderr


def test_plugin_slapd_factory_makes_distinct_started_instances(
    slapd_factory: object,
) -> None:
    assert callable(slapd_factory)
    first, second = slapd_factory(), slapd_factory(suffix="o=other")
    assert first.running
    assert second.running
    assert first.port != second.port
    assert second.suffix == "o=other"


def run_inner_pytest(
    tmp_path: Path,
    test_source: str,
    conftest: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run pytest on a generated test file with the plugin loaded by -p."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    pythonpath = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    # Load the plugin explicitly, whether or not its pytest11 entry point is installed.
    run_env = {**os.environ, "PYTHONPATH": pythonpath, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run_env.update(env or {})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "ara_ldap.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


def test_plugin_slapd_factory_closes_instances_at_teardown(tmp_path: Path) -> None:
    record = tmp_path / "made.txt"
    result = run_inner_pytest(
        tmp_path,
        f"""
        def test_make(slapd_factory):
            made = [slapd_factory(), slapd_factory()]
            with open({str(record)!r}, "w") as out:
                for s in made:
                    out.write(f"{{s.pid}} {{s.workdir}}\\n")
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in record.read_text().splitlines():
        pid, workdir = line.split(" ", 1)
        assert not process_exists(int(pid))
        assert not Path(workdir).exists()


SLAPD_MISSING_CONFTEST = """
import ara_ldap.testing.slapd as harness
harness.find_tool = lambda name: None
"""

USES_ARA_SLAPD = """
def test_uses(ara_slapd):
    pass
"""


def test_plugin_skips_when_slapd_missing_outside_ci(tmp_path: Path) -> None:
    result = run_inner_pytest(tmp_path, USES_ARA_SLAPD, SLAPD_MISSING_CONFTEST, {"CI": "false"})
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "apt-get install slapd ldap-utils" in result.stdout


def test_plugin_fails_when_slapd_missing_on_ci(tmp_path: Path) -> None:
    result = run_inner_pytest(tmp_path, USES_ARA_SLAPD, SLAPD_MISSING_CONFTEST, {"CI": "true"})
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout
    assert "apt-get install slapd ldap-utils" in result.stdout


def test_no_slapd_child_left_behind_by_finished_instances() -> None:
    before = child_slapd_pids()
    with Slapd() as instance:
        assert instance.pid in child_slapd_pids()
    assert child_slapd_pids() == before - {instance.pid}
