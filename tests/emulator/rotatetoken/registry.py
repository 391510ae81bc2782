"""The patch registry: every way the emulator differs from plain moto, numbered.

Each installer is declared with the decorator `@patch(number, service=..., behaviour=...,
source=...)`: the AWS behaviour it gives (what moto did instead), and the source it cites
(an AWS document, an issue, or a measurement). One installer may carry several numbers
when one piece of moto serves them all (a decorator per number). A behaviour the product
relies on as moto already has it is declared with `relied_on(...)`: no installer.

The numbers are stable (comments, docs and tests cite "patch 22"): 1 to the last, each
once. The package docstring's list is `render()` (`python -m rotatetoken --list-patches`),
checked by tests/emulator/test_registry.py; install.py installs them in one order.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Patch:
    number: int
    service: str
    behaviour: str
    source: str
    installer: Callable[[], None] | None  # None: relied on as moto has it


PATCHES: dict[int, Patch] = {}


def _register(number: int, service: str, behaviour: str, source: str, installer: Any) -> None:
    if number in PATCHES:
        raise ValueError(f"patch {number} registered twice ({PATCHES[number].installer} and {installer})")
    PATCHES[number] = Patch(number, service, " ".join(behaviour.split()), " ".join(source.split()), installer)


def patch(number: int, *, service: str, behaviour: str, source: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Registers the decorated installer as patch `number`."""

    def register(installer: Callable[[], None]) -> Callable[[], None]:
        _register(number, service, behaviour, source, installer)
        return installer

    return register


def relied_on(number: int, *, service: str, behaviour: str, source: str) -> None:
    """Registers a behaviour moto already has that the product depends on (no installer)."""
    _register(number, service, behaviour, source, None)


def installers() -> list[Callable[[], None]]:
    """Every registered installer, once each."""
    out: list[Callable[[], None]] = []
    for p in sorted(PATCHES.values(), key=lambda p: p.number):
        if p.installer is not None and p.installer not in out:
            out.append(p.installer)
    return out


WIDTH = 92


def render() -> str:
    """The numbered list, in order: what the package docstring shows."""
    lines: list[str] = []
    for p in sorted(PATCHES.values(), key=lambda p: p.number):
        head = f"{p.number:>3}. [{p.service}{'' if p.installer else ', as moto has it'}] "
        body = textwrap.wrap(p.behaviour, WIDTH, initial_indent=head, subsequent_indent=" " * 7)
        source = textwrap.wrap(p.source, WIDTH, initial_indent="       Source: ", subsequent_indent=" " * 15)
        lines += body + source
    return "\n".join(lines) + "\n"
