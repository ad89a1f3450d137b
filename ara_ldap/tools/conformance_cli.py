"""``ara-ldap conformance URL``: the driver conformance suite against any res_config_curl
server (see docs/conformance.md)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from ara_ldap.cli_support import handle_errors as _handle_errors
from ara_ldap.errors import ConfigError

_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n"}


def _bool(flag: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"capability {flag}: expected yes or no, got {value!r}")


def capabilities_from(file: Path | None, flags: tuple[str, ...]) -> Any:
    """``Capabilities`` for a curl server: the wire's defaults (no detailed errors), then
    the YAML file's flags, then ``--capability FLAG=yes|no`` (later wins)."""
    import yaml

    from ara_ldap.backends.base import Capabilities

    given: dict[str, bool] = {}
    if file is not None:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: expected a mapping of capability flags")
        given |= {str(k): _bool(str(k), v) for k, v in data.items()}
    for item in flags:
        name, sep, value = item.partition("=")
        given[name.strip()] = _bool(name, value if sep else "yes")
    known = {f.name for f in dataclasses.fields(Capabilities)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(
            f"unknown capability flag(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(Capabilities(detailed_errors=False), **given)


def _families(spec: str | None, mapped: dict[str, str]) -> list[str]:
    from ara_ldap.testing.conformance.dataset import FAMILIES
    from ara_ldap.testing.conformance.runner import CLASSIC_FAMILIES

    if spec is None:
        chosen = list(CLASSIC_FAMILIES) + [f for f in mapped if f not in CLASSIC_FAMILIES]
    elif spec.strip() == "all":
        chosen = list(FAMILIES)
    else:
        chosen = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ConfigError(
            f"not a family of the data set: {', '.join(unknown)}; known: {', '.join(FAMILIES)}"
        )
    return chosen


def _mapping(file: Path | None, items: tuple[str, ...]) -> dict[str, str]:
    import yaml

    out: dict[str, str] = {}
    if file is not None:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: expected a mapping family: URL")
        out |= {str(k): str(v) for k, v in data.items()}
    for item in items:
        family, sep, url = item.partition("=")
        if not sep:
            raise ConfigError(f"--family-url {item!r}: expected FAMILY=URL")
        out[family.strip()] = url.strip()
    return out


@click.command()
@click.argument("url", required=False)
@click.option(
    "--family-url",
    "family_urls",
    multiple=True,
    metavar="FAMILY=URL",
    help="A family's own URL, as in extconfig.conf (repeatable).",
)
@click.option(
    "--urls",
    "urls_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping family: URL.",
)
@click.option(
    "--families",
    default=None,
    metavar="A,B|all",
    help="Families to run (default: sippeers,voicemail,extensions,ast_config and mapped ones).",
)
@click.option(
    "--capability",
    "capability_flags",
    multiple=True,
    metavar="FLAG=yes|no",
    help="What the server can do (a Capabilities field; repeatable).",
)
@click.option(
    "--capabilities",
    "capabilities_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of capability flags.",
)
@click.option("--no-load", is_flag=True, help="The data set is preloaded (see --export-dataset).")
@click.option("--force", is_flag=True, help="Replace rows that already have the data set's keys.")
@click.option("--no-writes", is_flag=True, help="Run only the read cases.")
@click.option(
    "-k", "--cases", "keyword", metavar="EXPR", help="Only cases matching EXPR (pytest -k)."
)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML report.")
@click.option(
    "--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), help="JSON report."
)
@click.option("--show-skips", is_flag=True, help="List skipped cases with their reason.")
@click.option(
    "--export-dataset",
    type=click.Choice(["ldif", "sql", "csv"]),
    help="Write the data set instead of running (to --output).",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="With --export-dataset: a file (ldif, sql) or a directory (csv).",
)
@_handle_errors()
def conformance(
    url: str | None,
    family_urls: tuple[str, ...],
    urls_file: Path | None,
    families: str | None,
    capability_flags: tuple[str, ...],
    capabilities_file: Path | None,
    no_load: bool,
    force: bool,
    no_writes: bool,
    keyword: str | None,
    junit: Path | None,
    json_file: Path | None,
    show_skips: bool,
    export_dataset: str | None,
    output: Path | None,
) -> None:
    """Run the driver conformance suite against the res_config_curl server at URL
    (family F is URL/F, as ``F => curl,URL/F`` in extconfig.conf).

    The data set is stored through the wire and destroyed afterwards; the run refuses a
    server that already holds the data set's keys.  Exit status 0 when every case passed
    or skipped, 1 otherwise.
    """
    mapped = _mapping(urls_file, family_urls)
    chosen = _families(families, mapped)
    if export_dataset:
        from ara_ldap.testing.conformance.export import export_dataset as export

        if output is None:
            raise ConfigError("--export-dataset needs --output")
        for path in export(export_dataset, chosen, output):
            click.echo(f"wrote {path}")
        return
    from ara_ldap.testing.conformance.runner import family_urls as resolve
    from ara_ldap.testing.conformance.runner import run_url

    urls = resolve(url, chosen, mapped)
    caps = capabilities_from(capabilities_file, capability_flags)
    click.echo(f"running the conformance suite on {url or ', '.join(urls.values())} ...", err=True)
    report = run_url(
        urls,
        capabilities=caps,
        load=not no_load,
        force=force,
        writes=not no_writes,
        keyword=keyword,
        name=url or "curl",
    )
    click.echo(report.text(show_skips=show_skips), nl=False)
    if junit:
        report.write_junit(junit)
    if json_file:
        report.write_json(json_file)
    sys.exit(1 if report.failures else 0)


COMMANDS = [conformance]
