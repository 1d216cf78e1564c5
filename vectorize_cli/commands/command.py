"""Command: the one click command class every `vectorize` command is registered with (cli.py).

- --help in panels: each option's `rich_help_panel` printed as a plain section ("Input:", "Output:", ...).
  Typer draws panels only in its rich markup mode, which boxes the help and reads every help text as rich
  markup ("[default: dim / heads]" vanishes); plain sections read the same in a terminal, a pipe or a file.
- The top-level --help lists each command's whole first line, never cut with "...".
- A deprecated flag (options.RENAMED: a hidden option) sets the option that replaced it, with one note on
  stderr; giving both is a usage error.
"""

import typer.core

from vectorize_cli.commands.options import RENAMED
from vectorize_cli.errors import UsageError, tell


class Command(typer.core.TyperCommand):
    def get_short_help_str(self, limit: int = 45) -> str:
        return (self.help or "").strip().split("\n\n")[0].replace("\n", " ")

    def format_options(self, ctx, formatter) -> None:
        sections: dict[str, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                panel = "Arguments" if param.param_type_name == "argument" else \
                    getattr(param, "rich_help_panel", None) or "Options"
                sections.setdefault(panel, []).append(record)
        for panel, records in sections.items():
            with formatter.section(panel):
                formatter.write_dl(records)

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        for old in self.params:
            if not (getattr(old, "hidden", False) and old.opts[0] in RENAMED) or ctx.params.get(old.name) is None:
                continue
            new = next(p for p in self.params if RENAMED[old.opts[0]] in p.opts)
            source = ctx.get_parameter_source(old.name)
            if ctx.get_parameter_source(new.name).name != "DEFAULT":
                raise UsageError(f"give {new.opts[0]}, not both {new.opts[0]} and {old.opts[0]}")
            tell("note", f"{'/'.join(old.opts)} is deprecated and will be removed in the next release: "
                         f"use {'/'.join(new.opts)}")
            ctx.params[new.name], ctx.params[old.name] = ctx.params[old.name], None
            ctx.set_parameter_source(new.name, source)
        return rest
