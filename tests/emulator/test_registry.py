"""The patch registry (rotatetoken/registry.py): numbers unique and contiguous, every
installer registered and installed once, the package docstring's list the registry's, and
the package readable: no import circles, no module of 500 lines or more (the package
docstring's generated patch list not counted).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import unittest

import rotatetoken
from rotatetoken import install, registry

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "rotatetoken")
MARKER = "tests/emulator/test_registry.py checks that it is the registry's):\n\n"


def package_modules() -> list[str]:
    names = ["rotatetoken"]
    for info in pkgutil.walk_packages(rotatetoken.__path__, "rotatetoken."):
        names.append(info.name)
    return sorted(names)


def module_path(name: str) -> str:
    module = importlib.import_module(name)
    return module.__file__


class Registry(unittest.TestCase):
    def test_numbers_are_unique_and_contiguous_from_one(self) -> None:
        numbers = sorted(registry.PATCHES)
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))
        self.assertGreaterEqual(len(numbers), 40, "the numbers cited elsewhere (1-40) stay")

    def test_a_number_registered_twice_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "patch 3 registered twice"):
            registry.patch(3, service="x", behaviour="x", source="x")(lambda: None)
        self.assertIs(registry.PATCHES[3].installer, rotatetoken.cloudformation.updates.install_async_updates)

    def test_every_patch_says_what_aws_does_and_its_source(self) -> None:
        for p in registry.PATCHES.values():
            with self.subTest(p.number):
                self.assertTrue(p.service and p.behaviour and p.source)
                self.assertNotIn("\n", p.behaviour + p.source)

    def test_only_behaviours_moto_already_has_lack_an_installer(self) -> None:
        self.assertEqual(sorted(p.number for p in registry.PATCHES.values() if p.installer is None), [32, 47])

    def test_every_installer_is_registered_and_installed_once_in_order(self) -> None:
        defined = []
        for name in package_modules():
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                if attr.startswith("install_") and inspect.isfunction(value) and value.__module__ == name:
                    defined.append(value)
        registered = registry.installers()
        self.assertEqual({f.__qualname__ + "@" + f.__module__ for f in defined},
                         {f.__qualname__ + "@" + f.__module__ for f in registered},
                         "every install_* function carries @patch, and only those")
        self.assertEqual(len(install.ORDER), len(set(install.ORDER)), "each installer once")
        self.assertEqual(set(install.ORDER), set(registered))

    def test_the_package_docstring_lists_the_registry(self) -> None:
        doc = rotatetoken.__doc__
        self.assertIn(MARKER, doc)
        self.assertEqual(doc.split(MARKER, 1)[1], registry.render(),
                         "regenerate the list: python -m rotatetoken --list-patches (from tests/emulator)")

    def test_the_list_is_in_order(self) -> None:
        listed = [int(line.split(".")[0]) for line in registry.render().splitlines() if line[:4].strip().rstrip(".").isdigit()]
        self.assertEqual(listed, sorted(registry.PATCHES))

    def test_list_patches_prints_it(self) -> None:
        for command in ([sys.executable, "-m", "rotatetoken", "--list-patches"],
                        [sys.executable, "rotatetoken_emulator.py", "--list-patches"]):
            with self.subTest(command[1]):
                out = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=True).stdout
                self.assertEqual(out, registry.render())


class Layout(unittest.TestCase):
    def test_every_module_is_under_500_lines(self) -> None:
        generated = len(registry.render().splitlines())
        for name in package_modules():
            with self.subTest(name), open(module_path(name)) as f:
                lines = len(f.readlines())
                # The package docstring ends with the patch list, render()'s (checked
                # above), which grows with every patch: what is counted is what is
                # written by hand.
                if name == "rotatetoken":
                    lines -= generated
                self.assertLess(lines, 500)

    def test_the_launcher_stays_thin(self) -> None:
        with open(os.path.join(HERE, "rotatetoken_emulator.py")) as f:
            code = [line for line in f if line.strip() and not line.startswith(("#", " ")) and '"""' not in line]
        self.assertLessEqual(len(code), 4, code)

    def test_no_import_circles(self) -> None:
        self.assertEqual(cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}), ["a", "b", "c", "a"])
        graph = {name: imports_of(name) for name in package_modules()}
        self.assertIn("rotatetoken.state", graph["rotatetoken.cloudformation.updates"])
        for name in graph:
            with self.subTest(name):
                self.assertIsNone(cycle_from(name, graph), f"import circle through {name}")


def imports_of(name: str) -> set[str]:
    """The package's modules `name` imports (relative or absolute), whether at the top or
    inside a function."""
    path = module_path(name)
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    with open(path) as f:
        tree = ast.parse(f.read())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("rotatetoken"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                out.add(candidate if is_module(candidate) else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("rotatetoken")}
    return {m for m in out if m != name}


def is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return path + [nxt]
            if nxt not in path:
                stack.append((nxt, path + [nxt]))
    return None


if __name__ == "__main__":
    unittest.main()
