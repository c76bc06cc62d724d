"""The one home of how far a staff-edited template may go: time and size of a render.

Jinja's sandbox stops a template from reaching Python's internals but not from looping for
hours or building a gigabyte string, and a tight loop cannot be interrupted from another thread.
So the sandboxed environment checks a per-render budget from inside: every attribute and item
access, call, filter, intercepted operator and ``range`` step counts, the clock is looked at
every few hundred steps, values and the output are measured, and widths in format strings are
capped. A render over its budget raises RenderLimitExceeded (a TemplateError with a pt-BR
message) within about TIME_LIMIT seconds.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from contextlib import contextmanager

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

TIME_LIMIT = 1.0             # seconds for one message (subject, text and HTML together)
MAX_SIZE = 2_000_000         # characters of output, and of any one value, per message
MAX_WIDTH = 10_000           # padding / width arguments (center, indent, format widths)
_CHECK_EVERY = 256           # steps between looks at the clock
_WIDTH = re.compile(r"%[-+ #0]*(?:\d{5,}|\*)|%[-+ #0]*\d*\.(?:\d{5,}|\*)|\{[^{}]*(?:\d{5,}|\{)")
_WIDTH_FILTERS = {"center", "indent", "wordwrap", "truncate"}


class RenderLimitExceeded(TemplateError):
    """A template took too long or produced too much; the message is for staff (pt-BR)."""


class _Budget:
    __slots__ = ("deadline", "steps", "size")

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.steps = 0
        self.size = 0


_local = threading.local()


@contextmanager
def bounded(seconds: float = TIME_LIMIT):
    """Renders of bounded templates inside this block share one budget (one message)."""
    outer = getattr(_local, "budget", None)
    _local.budget = _Budget(seconds)
    try:
        yield
    finally:
        _local.budget = outer


def _step() -> None:
    budget = getattr(_local, "budget", None)
    if budget is None:
        return
    budget.steps += 1
    if budget.steps % _CHECK_EVERY == 0 and time.monotonic() > budget.deadline:
        raise RenderLimitExceeded(
            f"o modelo demorou mais de {TIME_LIMIT:g} s para ser montado (laços demais ou "
            f"aninhados?) e foi interrompido")


def _too_large(what: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(f"o modelo gerou {what} grande demais (mais de "
                               f"{MAX_SIZE:,} caracteres)".replace(",", "."))


def _measure(value):
    """``value`` unchanged, unless it is a string, sequence or number too large to keep."""
    if isinstance(value, (str, list, tuple, dict, set)) and len(value) > MAX_SIZE:
        raise _too_large("um texto ou uma lista")
    if isinstance(value, int) and value.bit_length() > 4096:
        raise _too_large("um número")
    return value


def _check_format(fmt) -> None:
    if isinstance(fmt, str) and _WIDTH.search(fmt):
        raise RenderLimitExceeded(f"largura grande demais num formato (máximo {MAX_WIDTH})")


class _BoundedRange:
    """``range`` for templates: the sandbox's size limit, and a step counted per item."""

    def __init__(self, *args: int):
        self._range = safe_range(*args)

    def __iter__(self):
        for item in self._range:
            _step()
            yield item

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index):
        return self._range[index]

    def __contains__(self, item) -> bool:
        return item in self._range


def _bounded_filter(name: str, function):
    @functools.wraps(function)
    def filtered(*args, **kwargs):
        _step()
        if name in _WIDTH_FILTERS:
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and not isinstance(value, bool) and value > MAX_WIDTH:
                    raise RenderLimitExceeded(f"largura grande demais no filtro {name} "
                                              f"(máximo {MAX_WIDTH})")
        if name == "format" and args:
            _check_format(args[-1] if not isinstance(args[0], str) else args[0])
        return _measure(function(*args, **kwargs))
    return filtered


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox (no Python internals, no mutation of lists and dicts) with a time and size
    budget per render; see the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.globals["range"] = _BoundedRange

    def bound_filters(self) -> None:
        """Wrap every registered filter (call after the app's filters are added)."""
        for name, function in list(self.filters.items()):
            if not getattr(function, "_bounded", False):
                wrapped = _bounded_filter(name, function)
                wrapped._bounded = True
                self.filters[name] = wrapped

    def getattr(self, obj, attribute):
        _step()
        return _measure(super().getattr(obj, attribute))

    def getitem(self, obj, argument):
        _step()
        return _measure(super().getitem(obj, argument))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _step()
        target = getattr(__obj, "__wrapped__", __obj)
        if getattr(target, "__name__", "") in ("format", "format_map") and isinstance(
                getattr(target, "__self__", None), str):
            _check_format(target.__self__)
        return _measure(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator: str, left, right):
        _step()
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise RenderLimitExceeded("potência grande demais no modelo")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * max(times, 0) > MAX_SIZE:
                    raise _too_large("um texto ou uma lista")
        if operator == "%":
            _check_format(left)
        return _measure(super().call_binop(context, operator, left, right))


def render_bounded(template, context: dict) -> str:
    """Render ``template`` (of a BoundedSandbox) inside the current budget, measuring the output
    as it is produced (a loop that only prints is stopped by size as well as by time)."""
    budget = getattr(_local, "budget", None)
    parts = []
    for chunk in template.generate(context):
        parts.append(chunk)
        if budget is not None:
            budget.size += len(chunk)
            if budget.size > MAX_SIZE:
                raise _too_large("uma mensagem")
            _step()
    return "".join(parts)
