"""``segtrain <command> [hydra overrides...]``: one Hydra app per command.

Each command has its own primary config in ``configs/`` (``train.yaml``,
``evaluate.yaml``, ...). Overrides are checked by composing the config once before the
Hydra app runs, so a wrong key, type or option is reported as one readable paragraph
(naming the key and the valid choices) instead of a traceback. Errors raised by segtrain
itself (:mod:`segtrain.errors`) are printed the same way; ``SEGTRAIN_DEBUG=1`` shows
tracebacks.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from segtrain.errors import ConfigError, SegtrainError
from segtrain.runtime.commands import COMMANDS, Command, resolve_target

log = logging.getLogger("segtrain")
COMMAND_ENV = "SEGTRAIN_COMMAND"


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
        "`segtrain <command> --help` shows the config groups and options of a command.",
    ]
    return "\n".join(lines)


def _report(prog: str, err: BaseException, code: int) -> None:
    if os.environ.get("SEGTRAIN_DEBUG"):
        raise err
    message = " ".join(str(err).split()) if isinstance(err, SegtrainError) else str(err).strip()
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _is_plain_override(arg: str) -> bool:
    return (not arg.startswith("-") and "=" in arg) or arg.startswith(("~", "+"))


def validate_overrides(config_name: str, overrides: Sequence[str]) -> None:
    """Compose once to turn bad overrides into a ConfigError naming key and choices.

    Sweeps (``-m`` with ``a=1,2``) and hydra.* overrides are left to Hydra itself.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from segtrain._configs import config_dir

    plain = [o for o in overrides if _is_plain_override(o)]
    try:
        parsed = OverridesParser.create().parse_overrides(plain)
    except Exception as err:  # OverrideParseException and friends
        raise ConfigError(f"cannot parse overrides {plain}: {_first_line(err)}") from None
    if any(p.is_sweep_override() for p in parsed):
        return
    plain = [
        o for o, p in zip(plain, parsed, strict=True) if not p.key_or_group.startswith("hydra")
    ]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            compose(config_name=config_name, overrides=plain)
    except Exception as err:
        raise ConfigError(_explain_compose_error(err)) from None
    finally:
        GlobalHydra.instance().clear()


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
    from segtrain.config import register_configs

    register_configs()
    wants_help = any(a in ("--help", "-h", "--hydra-help") for a in args)
    multirun = any(a in ("-m", "--multirun") for a in args)
    if not wants_help and not multirun and not any(a.startswith("--") for a in args):
        try:
            validate_overrides(command.config_name, args)
        except SegtrainError as err:
            _report(prog, err, err.exit_code)

    task = resolve_target(command.target)

    def app(cfg: DictConfig) -> Any:
        try:
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
        return main()
    finally:
        sys.argv = saved


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    inherited = os.environ.get(COMMAND_ENV)
    if (
        inherited
        and "LOCAL_RANK" in os.environ
        and (not args or args[0] not in (*COMMANDS, "data"))
    ):
        # a rank started by Lightning's DDP launcher with the parent's overrides only
        args = [*inherited.split(), *args]
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    name, rest = args[0], args[1:]
    if name == "data":
        if not rest or rest[0] in ("-h", "--help"):
            print(_usage())
            return
        sub, rest = rest[0], rest[1:]
        if sub not in DATA_COMMANDS:
            print(
                f"segtrain data: error: unknown subcommand {sub!r}; expected one of "
                f"{', '.join(DATA_COMMANDS)}",
                file=sys.stderr,
            )
            sys.exit(2)
        os.environ["SEGTRAIN_DATA_COMMAND"] = sub
        run_hydra_command(f"segtrain data {sub}", DATA_COMMANDS[sub], rest)
        return
    if name not in COMMANDS:
        print(
            f"segtrain: error: unknown command {name!r}; expected one of "
            f"{', '.join([*COMMANDS, 'data'])}\n\n{_usage()}",
            file=sys.stderr,
        )
        sys.exit(2)
    run_hydra_command(f"segtrain {name}", COMMANDS[name], rest)


if __name__ == "__main__":
    main()
