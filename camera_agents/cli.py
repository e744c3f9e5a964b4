"""``cropwatch-agent``: run the field camera agent, check a box (``doctor``), ask for a burst, show the outbox."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

app = typer.Typer(help="CropWatch field camera agent.", no_args_is_help=True)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    envvar="CROPWATCH_AGENT_CONFIG",
    exists=True,
    dir_okay=False,
    help="agent TOML file (see docs/agent.example.toml); CROPWATCH_AGENT_<SECTION>_<KEY> "
    "environment variables override it",
)


def _load(config: Path | None):
    from camera_agents.config import ConfigError, load_config

    try:
        return load_config(config)
    except (ConfigError, OSError, ValueError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _logging(level: str) -> None:
    # stdout, no colours or timestamps of our own beyond the usual: journald adds its own time and unit
    logging.basicConfig(
        level=level.upper(), stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("httpx", "httpcore", "urllib3"):  # request lines would print presigned upload URLs
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def run(config: Path = ConfigOpt, max_frames: int = typer.Option(None, hidden=True)) -> None:
    """Capture on schedule, buffer every frame on disk, upload when the link allows."""
    cfg = _load(config)
    _logging(cfg.agent.log_level)
    from camera_agents.agent import Agent

    agent = Agent(cfg)
    agent.install_signals()
    agent.run(max_frames=max_frames)


@app.command()
def doctor(config: Path = ConfigOpt) -> None:
    """Check the camera (one grab), disk, clock, server and token; exit 1 if anything fails."""
    cfg = _load(config)
    logging.basicConfig(level=logging.ERROR)
    from camera_agents.doctor import render, run_checks

    raise typer.Exit(render(run_checks(cfg)))


@app.command()
def burst(
    config: Path = ConfigOpt, count: int = typer.Option(0, help="frames (0: the configured burst_count)")
) -> None:
    """Ask the running agent for a burst of frames now (writes the `burst` file it watches)."""
    cfg = _load(config)
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    tmp = cfg.data_path / ".burst.tmp"
    tmp.write_text(str(count) if count else "")
    os.replace(tmp, cfg.data_path / "burst")
    typer.echo(f"burst requested in {cfg.data_path}")


@app.command()
def status(config: Path = ConfigOpt) -> None:
    """The outbox: frames waiting and the counters."""
    cfg = _load(config)
    from camera_agents.doctor import check_outbox

    typer.echo(check_outbox(cfg).detail)


if __name__ == "__main__":
    app()
