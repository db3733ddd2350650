"""The ``domaingen`` command line: parse, call the Python API, print.

Exit codes: 0 success, 2 usage or validation error, 1 any other failure. Errors a user
can cause print one short message naming the thing and the fix; ``--debug`` adds the
traceback. The global options (``--debug``, ``--quiet``, ``--version``) are accepted
before the subcommand and after it (``domaingen run RECIPE --quiet``), on every command.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from ._version import __version__
from .recipe import MAX_BATCH_SIZE, MAX_RECORDS, MAX_SHARD_SIZE

__all__ = ["cli", "main", "MAX_WORKERS"]

MAX_WORKERS = 1024  # generate --workers: processes (or Ray tasks in flight) at once


def _set_global(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Record a global flag on the root context, wherever on the line it was given."""
    if value:
        root = ctx.find_root()
        if root.obj is None:
            root.obj = {}
        root.obj[param.name] = True
        if param.name == "debug":
            os.environ["DOMAINGEN_DEBUG"] = "1"
    return value


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``: print the version and stop (as click's version_option does)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"domaingen, version {__version__}")
        ctx.exit()


def _global_options() -> list[click.Option]:
    """New instances of the global options, for one command (click binds a parameter to
    one command); each sets the same flag on the root context."""
    return [
        click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True, callback=_print_version, help="Show the version and exit."),
        click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True, callback=_set_global, help="Show tracebacks and library logs."),
        click.Option(["--quiet", "-q"], is_flag=True, expose_value=False, is_eager=True, callback=_set_global, help="No progress bars."),
    ]


class _Command(click.Command):
    """A command that takes the global options too (after its name: ``run RECIPE --quiet``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


class _SubGroup(click.Group):
    """A command group below the root (``plugins``, ``recipe``) with the global options;
    its commands and groups get them too."""

    command_class = _Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


_SubGroup.group_class = _SubGroup


class _Group(_SubGroup):
    """The root group: the global options on every command, and domaingen errors turned
    into short messages and exit codes."""

    group_class = _SubGroup

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import DomaingenError

        try:
            return super().invoke(ctx)
        except DomaingenError as exc:
            if _debug(ctx):
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _debug(ctx):
                traceback.print_exc()
            click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.obj or {}).get("debug"))


def _reporter(ctx: click.Context):
    from .progress import ProgressReporter, should_show

    return ProgressReporter(should_show((ctx.find_root().obj or {}).get("quiet", False)))


def _overrides(set_items: tuple[str, ...], seed: int | None) -> dict[str, Any]:
    from .recipe import parse_overrides

    out = parse_overrides(list(set_items))
    if seed is not None:
        out["seed"] = seed
    return out


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


set_option = click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE", help="Override a recipe value, e.g. --set train.epochs=5 (repeatable).")
seed_option = click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None, help="Override the recipe's seed.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Turn a recipe file into synthetic data for a domain."""
    flags = ctx.ensure_object(dict)  # --debug / --quiet set it (_set_global), before or after the subcommand
    flags.setdefault("debug", False)
    flags.setdefault("quiet", False)


# ---------------------------------------------------------------------------------- plugins
@cli.group()
def plugins() -> None:
    """Installed domain plugins and model families."""


@plugins.command("list")
@json_option
def plugins_list(as_json: bool) -> None:
    """List plugins and model families with their version, distribution and status."""
    from . import registry

    rows = [dict(e.as_dict(), kind="plugin") for e in registry.plugins().values()]
    rows += [dict(e.as_dict(), kind="model family") for e in registry.families().values()]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        status = row["status"] if row["status"] == "ok" else f"error: {row['error']}"
        click.echo(f"{row['kind']:<13} {row['name']:<12} {row['version']:<10} {row['distribution']:<20} {status}")


# ----------------------------------------------------------------------------------- plugin
@cli.group("plugin")
def plugin_group() -> None:
    """Start a new domain plugin (docs/tutorial-plugin.md)."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--layout", type=click.Choice(["table", "tokens", "grid"]), default="table", show_default=True, help="What its codec produces: table rows, token sequences or image grids.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="The folder to create (default: ./domaingen-NAME); it must be new or empty.")
def plugin_new(name: str, layout: str, out_dir: Path | None) -> None:
    """Scaffold a new plugin NAME: a working distribution with a demo source, a recipe and tests."""
    from .scaffold import new_plugin

    folder = new_plugin(name, layout, out_dir)
    click.echo(f"created {folder}: the {name} plugin ({layout} layout); next:")
    click.echo(f"  pip install -e {folder}\n  python -m pytest -q {folder / 'tests'}\n  domaingen run {folder / 'recipes' / 'demo.yaml'} --out runs/{name}-demo")


# ----------------------------------------------------------------------------------- recipe
@cli.group()
def recipe() -> None:
    """Validate recipes and print their JSON Schema."""


@recipe.command("validate")
@click.argument("recipes", nargs=-1, required=True, type=click.Path(path_type=Path))
@set_option
def recipe_validate(recipes: tuple[Path, ...], set_items: tuple[str, ...]) -> None:
    """Check RECIPES; print every problem with its path and line."""
    from .errors import DomaingenError
    from .recipe import load_recipe

    failed: list[DomaingenError] = []
    for path in recipes:
        try:
            load_recipe(path, _overrides(set_items, None))
            click.echo(f"{path}: ok")
        except DomaingenError as exc:
            click.echo(f"error: {exc}", err=True)
            failed.append(exc)
    if failed:
        sys.exit(max(e.exit_code for e in failed))


@recipe.command("schema")
def recipe_schema() -> None:
    """Print the recipe JSON Schema (for editors), installed plugins' sections included."""
    from .recipe import recipe_json_schema

    _print_json(recipe_json_schema())


# -------------------------------------------------------------------------------------- run
@cli.command()
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder (default: runs/<recipe name>).")
@seed_option
@set_option
@json_option
@click.pass_context
def run(ctx: click.Context, recipe_path: Path, out_dir: Path | None, seed: int | None, set_items: tuple[str, ...], as_json: bool) -> None:
    """Train, save the bundle, generate, write and evaluate RECIPE in one go."""
    from . import pipeline
    from .recipe import load_recipe

    recipe_obj = load_recipe(recipe_path, _overrides(set_items, seed))
    out_dir = out_dir or Path("runs") / recipe_obj.name
    result = pipeline.run(recipe_obj, out_dir, progress=_reporter(ctx))
    if as_json:
        _print_json(result.as_dict())
        return
    click.echo(f"bundle:    {result.bundle_dir}")
    click.echo(f"synthetic: {result.synthetic_dir} ({len(result.files)} file{'s' if len(result.files) != 1 else ''}, {result.records} records)")
    for path in result.report_files:
        click.echo(f"report:    {path}")
    summary = _headline(result.report)
    if summary:
        click.echo(f"scores:    {summary}")
    click.echo("seconds:   " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))


@cli.command()
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option("-n", "n", type=click.IntRange(1, 1000), default=1, show_default=True, help="Records to show.")
@click.option("--prompt", default=None, help="Text the sample starts with (text bundles: generate.options.prompt).")
@click.option("--option", "option_items", multiple=True, metavar="KEY=VALUE", help="Override a generate option (repeatable).")
@seed_option
def sample(bundle_path: Path, n: int, prompt: str | None, option_items: tuple[str, ...], seed: int | None) -> None:
    """Print a few records from BUNDLE for a quick look (text appears as it is written on a terminal); no files are written."""
    import functools

    from . import pipeline
    from .recipe import parse_overrides

    bundle = pipeline.load_bundle(bundle_path)
    opts = parse_overrides(list(option_items), flag="--option")
    if prompt is not None:
        opts["prompt"] = prompt
    bundle.recipe_with_options(opts)  # validated before any work
    stream = sys.stdout.isatty()
    write = functools.partial(click.echo, nl=False) if stream else click.echo
    bundle.plugin.preview(bundle, n, opts, bundle.recipe.seed if seed is None else seed, write, stream)
    if stream:
        click.echo()


def _headline(report: dict[str, Any] | None) -> str:
    """The report's top-level numeric metrics, one line."""
    if not report:
        return ""
    metrics = report.get("metrics", {})
    summary = metrics.get("summary", metrics)
    items = [(k, v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k} {v:.3f}" for k, v in items[:8])


# ------------------------------------------------------------------------------------ train
@cli.command()
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(path_type=Path))
@click.option("--bundle", "bundle_dir", required=True, type=click.Path(path_type=Path), help="Where to save the bundle (a folder, or a .zip file).")
@seed_option
@set_option
@json_option
@click.pass_context
def train(ctx: click.Context, recipe_path: Path, bundle_dir: Path, seed: int | None, set_items: tuple[str, ...], as_json: bool) -> None:
    """Train RECIPE and save the generator as a bundle."""
    from . import pipeline
    from .recipe import load_recipe

    recipe_obj = load_recipe(recipe_path, _overrides(set_items, seed))
    bundle = pipeline.train(recipe_obj, bundle_dir, progress=_reporter(ctx))
    if as_json:
        _print_json({"bundle": str(bundle_dir), "meta": bundle.meta})
        return
    history = bundle.meta.get("history", {})
    last = ", ".join(f"{k} {v[-1]:.4g}" for k, v in history.items() if v)
    click.echo(f"bundle: {bundle_dir}" + (f"  (final {last})" if last else ""))


# --------------------------------------------------------------------------------- generate
@cli.command()
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option("-n", "n", required=True, type=click.IntRange(1, MAX_RECORDS), help=f"Number of records to generate (at most {MAX_RECORDS:,}).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder for the shards and manifest.json.")
@seed_option
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=None, help="Records per model call (default: the recipe's).")
@click.option("--shard-size", type=click.IntRange(1, MAX_SHARD_SIZE), default=None, help="Records per output file (default: the recipe's).")
@click.option("--format", "fmt", default=None, help="Output format (default: the recipe's, else the plugin's first).")
@click.option("--option", "option_items", multiple=True, metavar="KEY=VALUE", help="Override a generate option, e.g. --option temperature=0.8 (repeatable).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=1, help="Local worker processes (output is identical for any number).")
@click.option("--engine", type=click.Choice(["local", "processes", "ray"]), default="local", help="Where shards are generated.")
@click.option("--address", default=None, metavar="auto|HOST:PORT", help="With --engine ray: the Ray cluster to run on (started with `ray start --head`); --out must be shared storage. Default: Ray inside this process.")
@click.option("--overwrite", is_flag=True, help="Replace the output of a different run in --out.")
@json_option
@click.pass_context
def generate(
    ctx: click.Context,
    bundle_path: Path,
    n: int,
    out_dir: Path,
    seed: int | None,
    batch_size: int | None,
    shard_size: int | None,
    fmt: str | None,
    option_items: tuple[str, ...],
    workers: int,
    engine: str,
    address: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Generate N records from BUNDLE into shards (part-00000.<ext> ...) plus manifest.json."""
    from . import pipeline
    from .recipe import parse_overrides

    bundle = pipeline.load_bundle(bundle_path)
    manifest = pipeline.generate(
        bundle,
        out_dir,
        n,
        seed=seed,
        batch_size=batch_size,
        shard_size=shard_size,
        fmt=fmt,
        options=parse_overrides(list(option_items), flag="--option"),
        workers=workers,
        engine=engine,
        address=address,
        overwrite=overwrite,
        progress=_reporter(ctx),
    )
    if as_json:
        _print_json(manifest)
        return
    files = sum(len(s["files"]) for s in manifest["shards"])
    click.echo(f"{n} records in {len(manifest['shards'])} shard(s), {files} file(s): {out_dir}")


# --------------------------------------------------------------------------------- evaluate
@cli.command()
@click.option("--bundle", "bundle_path", type=click.Path(path_type=Path), default=None, help="A bundle: its recipe names the real data.")
@click.option("--recipe", "recipe_path", type=click.Path(path_type=Path), default=None, help="A recipe naming the real data.")
@click.option("--synthetic", type=click.Path(path_type=Path), default=None, help="Synthetic output (a folder with manifest.json, or a file); default: generate from --bundle.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Where to write report.json / report.html.")
@seed_option
@set_option
@json_option
def evaluate(
    bundle_path: Path | None,
    recipe_path: Path | None,
    synthetic: Path | None,
    out_dir: Path | None,
    seed: int | None,
    set_items: tuple[str, ...],
    as_json: bool,
) -> None:
    """Compare synthetic records with the real ones and print the metrics."""
    from . import pipeline
    from .errors import UsageError
    from .recipe import load_recipe

    if (bundle_path is None) == (recipe_path is None):
        raise UsageError("evaluate: give exactly one of --bundle BUNDLE or --recipe RECIPE")
    bundle = None
    if bundle_path is not None:
        bundle = pipeline.load_bundle(bundle_path)
        recipe_obj = bundle.recipe
        if set_items or seed is not None:
            from .recipe import recipe_from_dict

            recipe_obj = recipe_from_dict(recipe_obj.document, _overrides(set_items, seed), base_dir=recipe_obj.base_dir, source=recipe_obj.source)
    else:
        recipe_obj = load_recipe(recipe_path, _overrides(set_items, seed))
    plugin = _plugin_of(recipe_obj)
    if synthetic is not None:
        records = plugin.read(_synthetic_files(synthetic))
    elif bundle is not None:
        records = bundle.generate(recipe_obj.model.generate.n, seed=recipe_obj.seed)
    else:
        raise UsageError("evaluate --recipe needs --synthetic PATH (the output to compare with the recipe's data)")
    manifest = _manifest_of(synthetic) if synthetic is not None else None
    report = pipeline.evaluate(recipe_obj, records, out_dir=out_dir, bundle=bundle, manifest=manifest)
    if as_json:
        _print_json(report)
        return
    click.echo(_headline(report) or json.dumps(report.get("metrics", {}), indent=2))
    if out_dir is not None:
        click.echo(f"report: {Path(out_dir) / 'report.json'}")


def _plugin_of(recipe_obj: Any):
    from . import registry

    return registry.get_plugin(recipe_obj.model.data.plugin)


def _manifest_of(path: Path) -> dict | None:
    """The ``manifest.json`` of a generated folder, or ``None``."""
    from .generation import read_manifest

    return read_manifest(path) if path.is_dir() else None


def _synthetic_files(path: Path) -> list[Path]:
    from .errors import DataError

    if path.is_file():
        return [path]
    data = _manifest_of(path)
    if data is not None:
        from .generation import manifest_files

        return manifest_files(path, data)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.startswith("part-"))  # shard files, or shard folders (images)
        if files:
            return files
    raise DataError(f"--synthetic {path}: no synthetic output found; pass a file or a folder written by `domaingen generate`")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="domaingen", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
