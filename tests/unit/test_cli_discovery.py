"""The CLI finds its command groups by module name (``commands`` / ``*_cli`` in a
subpackage) instead of a hard-coded list, and ``ara-ldap --help`` lists them all."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import ara_ldap
from ara_ldap.cli import command_modules, main, register_commands

PACKAGE = Path(ara_ldap.__file__).parent


def _modules_defining_commands() -> set[str]:
    """Every product module that assigns ``COMMANDS`` at top level (read from source)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "COMMANDS" for t in targets):
                parts = ("ara_ldap", *path.relative_to(PACKAGE).with_suffix("").parts)
                found.add(".".join(parts))
    return found


@pytest.fixture
def fake_package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "fakepkg"
    for sub in ("tools", "testing", "backends"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
        del sys.modules[name]


def _command_module(path: Path, name: str) -> None:
    path.write_text(
        "import click\n"
        f"@click.command({name!r})\n"
        "def cmd() -> None:\n"
        '    """A command."""\n'
        "COMMANDS = [cmd]\n"
    )


def test_every_module_defining_commands_is_found() -> None:
    assert set(command_modules()) == _modules_defining_commands()


def test_help_lists_every_command_of_every_command_module() -> None:
    names = {
        command.name
        for module in command_modules()
        for command in importlib.import_module(module).COMMANDS
    }
    out = CliRunner().invoke(main, ["--help"], terminal_width=200).output
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert names and names <= listed


def test_a_new_cli_module_is_found_without_editing_the_cli(fake_package: Path) -> None:
    _command_module(fake_package / "tools" / "hello_cli.py", "hello")
    assert command_modules("fakepkg") == ["fakepkg.tools.hello_cli"]


def test_testing_and_backends_are_never_searched(fake_package: Path) -> None:
    _command_module(fake_package / "testing" / "commands.py", "t")
    _command_module(fake_package / "backends" / "db_cli.py", "b")
    assert command_modules("fakepkg") == []


def test_a_found_module_adds_its_commands_to_the_group(fake_package: Path) -> None:
    _command_module(fake_package / "tools" / "hello_cli.py", "hello")
    group = click.Group("g")
    register_commands(group, command_modules("fakepkg"))
    assert list(group.commands) == ["hello"]


def test_two_modules_with_the_same_command_name_are_an_error(fake_package: Path) -> None:
    _command_module(fake_package / "tools" / "a_cli.py", "same")
    _command_module(fake_package / "tools" / "b_cli.py", "same")
    with pytest.raises(RuntimeError, match="already registered"):
        register_commands(click.Group("g"), command_modules("fakepkg"))
