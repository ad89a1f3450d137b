"""Moving in and checking a site: ``import-res-ldap`` and ``doctor``.

The logic lives in :mod:`ara_ldap.tools.import_res_ldap` and :mod:`ara_ldap.tools.doctor`;
this module only parses arguments and prints.  Registered by ``ara_ldap.cli`` through
:data:`COMMANDS`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ara_ldap.cli_support import fail, handle_errors

__all__ = ["COMMANDS", "import_res_ldap"]


def _warn(message: str) -> None:
    click.echo(f"ara-ldap: warning: {message}", err=True)


def _write_secret(path: Path, secret: str, force: bool) -> None:
    """Write the password file as ``ldap* -y`` and our loader read it: mode 0600, no
    trailing newline; an existing file is kept unless ``--force``."""
    if path.exists() and not force:
        fail(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    os.chmod(path, 0o600)


@click.command("import-res-ldap")
@click.argument("res_ldap_conf", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument(
    "extconfig_conf",
    required=False,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the YAML here (default: standard output).",
)
@click.option("--url", default=None, help="LDAP URL(s), if [_general] has no url/host.")
@click.option("--bind-dn", default=None, help="Bind DN, instead of [_general] user.")
@click.option("--base-dn", default=None, help="Backend base DN, instead of [_general] basedn.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/ara-ldap/ldap.pw"),
    show_default=True,
    help="Where the YAML says the bind password is.",
)
@click.option(
    "--write-password",
    is_flag=True,
    help="Write the bind password found in res_ldap.conf to --password-file (mode 0600).",
)
@click.option(
    "--keep-sample-bugs",
    is_flag=True,
    help="Keep the stock sample's wrong class/attribute names (only warn about them).",
)
@click.option("--force", is_flag=True, help="Overwrite --output / --password-file.")
@handle_errors()
def import_res_ldap(
    res_ldap_conf: Path,
    extconfig_conf: Path | None,
    output: Path | None,
    url: str | None,
    bind_dn: str | None,
    base_dn: str | None,
    password_file: Path,
    write_password: bool,
    keep_sample_bugs: bool,
    force: bool,
) -> None:
    """Turn Asterisk's res_ldap.conf (and extconfig.conf) into an ara-ldap YAML map."""
    from ara_ldap.tools.conf_parser import parse_conf_file
    from ara_ldap.tools.import_res_ldap import import_res_ldap as run_import
    from ara_ldap.tools.import_res_ldap import render_yaml

    res_ldap = parse_conf_file(res_ldap_conf)
    extconfig = parse_conf_file(extconfig_conf) if extconfig_conf else None
    result = run_import(
        res_ldap,
        extconfig,
        url=url,
        bind_dn=bind_dn,
        base_dn=base_dn,
        password_file=password_file.absolute() if write_password else password_file,
        fix_sample=not keep_sample_bugs,
    )
    for message in [
        *res_ldap.warnings,
        *(extconfig.warnings if extconfig else []),
        *result.warnings,
    ]:
        _warn(message)
    sources = [str(res_ldap_conf), *([str(extconfig_conf)] if extconfig_conf else [])]
    text = render_yaml(result, sources)
    if output is None:
        click.echo(text, nl=False)
    else:
        if output.exists() and not force:
            fail(f"{output} exists; pass --force to overwrite it")
        output.write_text(text, encoding="utf-8")
        click.echo(
            f"Wrote {output} ({len(result.config['backends']['ldap']['families'])} families).",
            err=True,
        )
    if result.password is not None and result.password_file is not None:
        if write_password:
            _write_secret(result.password_file, result.password, force)
            click.echo(f"Bind password written to {result.password_file} (mode 0600).", err=True)
        else:
            click.echo(
                f"The bind password in {res_ldap_conf} was not copied. Put it into "
                f"{result.password_file} (mode 0600, no trailing newline), or run again with "
                "--write-password.",
                err=True,
            )
    sys.stdout.flush()


COMMANDS = [import_res_ldap]
