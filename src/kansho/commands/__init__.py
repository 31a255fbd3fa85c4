"""Sub-commands of the ``kansho`` CLI beyond ``demo``/``ts``/``config``, one module each.

Each module defines ``register(sub: argparse._SubParsersAction, fmt: type) -> None`` that adds its
parser(s) and sets ``func=<callable(args) -> int>`` with ``set_defaults``. Heavy imports belong
inside the callable so that ``kansho --help`` stays fast. Errors are raised as
:class:`kansho.errors.KanshoError` subclasses; the CLI prints them as one line.
"""
