"""``python -m camera_agents``: the ``cropwatch-agent`` command line."""

from camera_agents.cli import app

app()
