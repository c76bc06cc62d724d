"""What every command does with bad input it did not foresee: a pt-BR message and an exit code,
never a traceback.

``guard_commands`` wraps every command of the ``cli`` blueprint (subcommands of groups too), once
they are all defined (the end of blueprints/cli.py):

* a value that is not text (bytes typed in another encoding, which Python hands over as lone
  surrogates) is refused before the command runs, exit 2, as click refuses a malformed line;
  file and folder names (``PATH``) are passed on as they are, since the system takes them;
* the database failing (read-only, locked, missing) says what to check, exit 2;
* a value the database does not take, exit 1;
* a file or folder the system refuses (no permission, a name too long), exit 1.
"""
from __future__ import annotations

import functools
import sys

import click

from dunning.dberrors import DATABASE_ERRORS, VALUE_ERRORS, VALUE_REFUSED, explain
from dunning.os_errors import describe_os_error
from dunning.text import terminal_safe
from dunning.typed_input import unstorable
from models import db


class _PathType(click.ParamType):
    """A file or folder named on the command line, taken as typed: the command checks it and
    says what is wrong in Portuguese (``click.Path``'s own checks answer in English)."""

    name = "path"

    def convert(self, value, param, ctx):
        return value


PATH = _PathType()


def _fail(message: str, code: int) -> None:
    click.echo(terminal_safe(f"Erro: {message}", keep_newlines=True), err=True)
    sys.exit(code)


def _label(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name


def _guarded(command: click.Command):
    callback = command.callback
    texts = [p for p in command.params if p.type is not PATH and not getattr(p, "is_flag", False)]

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        for param in texts:
            value = kwargs.get(param.name)
            if isinstance(value, str) and (problem := unstorable(value)):
                _fail(f"{_label(param)}: o valor {problem}. Nada foi alterado.", 2)
        try:
            return callback(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            db.session.rollback()
            _fail(f"{explain(exc)} Nada foi alterado.", 2)
        except VALUE_ERRORS:
            db.session.rollback()
            _fail(VALUE_REFUSED, 1)
        except OSError as exc:
            db.session.rollback()
            _fail(f"{describe_os_error(exc)}.", 1)
    return guarded


def guard_commands(group: click.Group) -> None:
    """Wrap every command of ``group``, and of the groups inside it, as the module says."""
    for command in group.commands.values():
        if command.callback is not None:
            command.callback = _guarded(command)
        if isinstance(command, click.Group):
            guard_commands(command)
