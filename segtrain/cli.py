"""``segtrain <command> [hydra overrides...]``: one Hydra app per command.

Each command has its own primary config in ``configs/`` (``train.yaml``,
``evaluate.yaml``, ...). Overrides are checked by composing the config once before the
Hydra app runs, so a wrong key, type or option is reported as one readable paragraph
(naming the key and the valid choices) instead of a traceback. Errors raised by segtrain
itself (:mod:`segtrain.errors`) are printed the same way; ``SEGTRAIN_DEBUG=1`` shows
tracebacks.

``--help`` is segtrain's own (:mod:`segtrain.help`: the command's groups and described
options); ``--hydra-help``, ``--cfg`` and the rest are Hydra's. Shell completion is
Hydra's bash plugin with the command word(s) routed here (:func:`complete`). Library
noise is quieted before a task runs (:mod:`segtrain.runtime.noise`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from segtrain import __version__
from segtrain.errors import ConfigError, SegtrainError
from segtrain.runtime import noise
from segtrain.runtime.commands import COMMANDS, Command, resolve_target

if TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

log = logging.getLogger("segtrain")
COMMAND_ENV = "SEGTRAIN_COMMAND"
HELP_FLAGS = ("-h", "--help")
COMPLETION_FLAGS = ("-sc", "--shell-completion")


DATA_COMMANDS: dict[str, Command] = {
    "synth": Command("data", "segtrain.data.commands:synth", "write synthetic driving scenes"),
    "prepare": Command(
        "data", "segtrain.data.commands:prepare", "build manifest + splits (+ cache)"
    ),
    "inspect": Command(
        "data", "segtrain.data.commands:inspect", "counts, class frequencies, plots"
    ),
    "upload": Command("data", "segtrain.data.commands:upload", "sync a dataset/cache to s3://"),
    "download": Command(
        "data", "segtrain.data.commands:download", "sync s3:// to a local directory"
    ),
    "bench": Command("data", "segtrain.data.commands:bench", "data loading benchmark"),
}


def _usage() -> str:
    lines = [
        f"segtrain {__version__}: semantic segmentation training (DeepLabV3, ENet), "
        "local or on SageMaker",
        "",
        "usage: segtrain <command> [hydra overrides...]",
        "",
        "Commands:",
    ]
    for name, cmd in COMMANDS.items():
        lines.append(f"  {name:<16}{cmd.help}")
    for name, cmd in DATA_COMMANDS.items():
        lines.append(f"  {'data ' + name:<16}{cmd.help}")
    lines += [
        "",
        "Examples:",
        "  segtrain data synth",
        "  segtrain train model=deeplabv3 trainer.max_epochs=5",
        "  segtrain train model=enet dataset=camvid_segnet dataset.root=/data/camvid",
        "  segtrain evaluate checkpoint=outputs/demo/train/model",
        "  segtrain train -m model.lr=0.001,0.01 hydra/launcher=sagemaker",
        "",
        "`segtrain <command> --help` shows the config groups and options of a command;",
        '`eval "$(segtrain train --shell-completion install=bash)"` enables tab completion.',
    ]
    return "\n".join(lines)


def _data_usage() -> str:
    lines = ["usage: segtrain data <subcommand> [hydra overrides...]", "", "Subcommands:"]
    lines += [f"  {name:<10}{cmd.help}" for name, cmd in DATA_COMMANDS.items()]
    lines += ["", "`segtrain data <subcommand> --help` shows its config groups and options."]
    return "\n".join(lines)


def _print_out(text: str) -> None:
    """Print to stdout; a reader that stops early (``| head``) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _quiet_broken_pipe()


def _quiet_broken_pipe() -> None:
    # Python would report the pipe again while flushing stdout at exit: point the
    # descriptor at /dev/null first (the recipe of the signal module's documentation).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def _report(prog: str, err: BaseException, code: int) -> None:
    if os.environ.get("SEGTRAIN_DEBUG"):
        raise err
    message = " ".join(str(err).split()) if isinstance(err, SegtrainError) else str(err).strip()
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _is_plain_override(arg: str) -> bool:
    return (not arg.startswith("-") and "=" in arg) or arg.startswith(("~", "+"))


def validate_overrides(config_name: str, overrides: Sequence[str]) -> None:
    """Compose as the run will, and refuse a bad key, type, option or value up front.

    This runs before Hydra creates the run directory, so a refused command writes
    nothing. Every composed config goes through :func:`segtrain.config.check_config`
    (unknown keys, ranges, choices). A sweep (``-m`` with ``a=1,2``) is composed once
    per listed value; interval searches are left to the sweeper, ``hydra.*`` overrides
    to Hydra itself.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from segtrain._configs import config_dir
    from segtrain.config import check_config

    plain = [o for o in overrides if _is_plain_override(o)]
    try:
        parsed = OverridesParser.create().parse_overrides(plain)
    except Exception as err:  # OverrideParseException and friends
        raise ConfigError(f"cannot parse overrides {plain}: {_first_line(err)}") from None
    kept = [(o, p) for o, p in zip(plain, parsed, strict=True) if not _is_hydra_key(p)]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            for variant in _sweep_variants(kept):
                try:
                    cfg = compose(config_name=config_name, overrides=variant)
                except Exception as err:
                    raise ConfigError(_explain_compose_error(err)) from None
                check_config(cfg)
    finally:
        GlobalHydra.instance().clear()


def _is_hydra_key(override: Override) -> bool:
    return override.key_or_group.startswith("hydra")


def _sweep_variants(overrides: list[tuple[str, Override]]) -> list[list[str]]:
    """The fixed overrides alone, then with each value of each listed sweep in turn."""
    from hydra.errors import HydraException

    fixed = [text for text, o in overrides if not o.is_sweep_override()]
    variants = [fixed]
    for _, o in overrides:
        if not o.is_sweep_override():
            continue
        try:
            values = list(o.sweep_string_iterator())
        except HydraException:  # interval / glob: expanded by the sweeper, checked per job
            continue
        variants += [[*fixed, f"{o.get_key_element()}={v}"] for v in values]
    return variants


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _explain_compose_error(err: BaseException) -> str:
    """One paragraph from Hydra/OmegaConf's multi-line messages (search paths dropped)."""
    text = str(err).strip()
    if err.__cause__ is not None and str(err.__cause__).strip() not in text:
        text += "\n" + str(err.__cause__).strip()
    keep = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("Config search path", "provider=", "reference_type")):
            if line.startswith("Config search path"):
                break
            continue
        if line.startswith(("object_type=",)):
            continue
        keep.append(line)
    return " ".join(keep)


def run_hydra_command(prog: str, command: Command, args: list[str]) -> Any:
    """Run ``command`` as a Hydra app with ``args`` as its command line."""
    import hydra
    from omegaconf import DictConfig

    from segtrain._configs import config_dir
    from segtrain.config import check_config, register_configs

    register_configs()
    if any(a in HELP_FLAGS for a in args):
        _print_command_help(prog, command, args)
        return None
    completing = any(a in COMPLETION_FLAGS for a in args)
    if not completing and not any(a.startswith("--") for a in args):
        try:
            validate_overrides(command.config_name, args)
        except SegtrainError as err:
            _report(prog, err, err.exit_code)

    task = resolve_target(command.target)

    def app(cfg: DictConfig) -> Any:
        try:
            check_config(cfg)  # each job of a sweep, and runs validate_overrides skipped
            noise.configure(noise.verbose_requested(cfg))
            return task(cfg)
        except SegtrainError as err:
            _report(prog, err, err.exit_code)
        except NotImplementedError as err:  # a listed gap (README), not a crash
            _report(prog, NotImplementedError(f"not implemented: {err}"), 3)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            sys.exit(130)

    # Lightning's DDP launcher re-runs sys.argv for ranks > 0: keep argv[0] a runnable
    # program and tell the child which command it is (see main()).
    os.environ[COMMAND_ENV] = prog.removeprefix("segtrain ").strip()
    main = hydra.main(
        version_base="1.3", config_path=str(config_dir()), config_name=command.config_name
    )(app)
    saved = sys.argv
    sys.argv = [saved[0] if saved else prog, *args]
    try:
        with _segtrain_errors_reported(prog):
            return main()
    finally:
        sys.argv = saved


def _print_command_help(prog: str, command: Command, args: list[str]) -> None:
    """segtrain's ``--help`` for ``command``, composed with the overrides given with it."""
    from segtrain.help import command_help

    overrides = [a for a in args if _is_plain_override(a) and not a.startswith("hydra")]
    try:
        text = command_help(prog, command.help, command.config_name, overrides)
    except SegtrainError as err:
        _report(prog, err, err.exit_code)
    except Exception as err:  # a bad override given with --help
        _report(prog, ConfigError(_explain_compose_error(err)), 2)
    _print_out(text)


def complete(args: list[str]) -> None:
    """``segtrain -sc query=bash``, as Hydra's bash completion script calls it.

    The script runs ``<first word of the line> -sc query=bash`` with the line in
    ``COMP_LINE``, i.e. it asks the ``segtrain`` program, not one command's app. While
    the command word is being typed, the commands are offered; after it, the line without
    the command word(s) is handed to that command's Hydra app, whose completion plugin
    offers its groups, options and keys.
    """
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    ended = line.endswith(" ")
    typed = words[1:] if words else []
    names = [*COMMANDS, "data"]
    if not typed or (len(typed) == 1 and not ended):
        word = typed[0] if typed else ""
        _print_out(" ".join(n for n in names if n.startswith(word)))
        return
    name, rest = typed[0], typed[1:]
    command = COMMANDS.get(name)
    if name == "data":
        if not rest or (len(rest) == 1 and not ended):
            word = rest[0] if rest else ""
            _print_out(" ".join(n for n in DATA_COMMANDS if n.startswith(word)))
            return
        command, rest = DATA_COMMANDS.get(rest[0]), rest[1:]
    if command is None:
        return  # an unknown command: nothing to offer
    os.environ["COMP_LINE"] = " ".join(["segtrain", *rest]) + (" " if ended else "")
    os.environ["COMP_POINT"] = str(len(os.environ["COMP_LINE"]))
    run_hydra_command(f"segtrain {name}", command, args)


@contextlib.contextmanager
def _segtrain_errors_reported(prog: str) -> Iterator[None]:
    """Report a SegtrainError raised outside the task (a launcher, a sweeper) like one
    raised inside it: one line, its exit code (2), ``SEGTRAIN_DEBUG`` for a traceback.

    Hydra runs the sweeper and launcher through ``run_and_report``, which prints any
    exception as a traceback pointing at ``HYDRA_FULL_ERROR`` and exits 1; segtrain's own
    errors are caught before they reach it, everything else still goes to Hydra.
    """
    import hydra._internal.utils as hydra_utils

    original = hydra_utils.run_and_report

    def run_and_report(func: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            try:
                return func()
            except SegtrainError as err:
                _report(prog, err, err.exit_code)

        return original(guarded)

    hydra_utils.run_and_report = run_and_report
    try:
        yield
    finally:
        hydra_utils.run_and_report = original


def _refuse_unknown(
    prog: str, what: str, name: str, choices: Sequence[str], tail: str = ""
) -> None:
    """One line naming the unknown command or subcommand and the valid ones; exit 2."""
    print(
        f"{prog}: error: unknown {what} {name!r}; expected one of {', '.join(choices)}{tail}",
        file=sys.stderr,
    )
    sys.exit(2)


def main(argv: Sequence[str] | None = None) -> None:
    """``segtrain <command> ...``; a reader that stops early (``| head``) is no error."""
    try:
        _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        _quiet_broken_pipe()


def _main(args: list[str]) -> None:
    inherited = os.environ.get(COMMAND_ENV)
    if (
        inherited
        and "LOCAL_RANK" in os.environ
        and (not args or args[0] not in (*COMMANDS, "data"))
    ):
        # a rank started by Lightning's DDP launcher with the parent's overrides only
        args = [*inherited.split(), *args]
    if not args or args[0] in (*HELP_FLAGS, "help"):
        _print_out(_usage())
        return
    if args[0] in ("-V", "--version"):
        _print_out(f"segtrain {__version__}")
        return
    if args[0] in COMPLETION_FLAGS and len(args) > 1 and args[1].startswith("query="):
        complete(args)
        return
    name, rest = args[0], args[1:]
    if name == "data":
        if not rest or rest[0] in HELP_FLAGS:
            _print_out(_data_usage())
            return
        sub, rest = rest[0], rest[1:]
        if sub not in DATA_COMMANDS:
            _refuse_unknown("segtrain data", "subcommand", sub, list(DATA_COMMANDS))
        os.environ["SEGTRAIN_DATA_COMMAND"] = sub
        run_hydra_command(f"segtrain data {sub}", DATA_COMMANDS[sub], rest)
        return
    if name not in COMMANDS:
        _refuse_unknown("segtrain", "command", name, [*COMMANDS, "data"], f"\n\n{_usage()}")
    run_hydra_command(f"segtrain {name}", COMMANDS[name], rest)


if __name__ == "__main__":
    main()
