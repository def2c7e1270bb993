"""oc routing: eval cases, measurements, proposals, recommendations, metrics, the judge."""

from __future__ import annotations

import typer

from oc_cli.app import LazyGroup

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "eval-case": ("oc_cli.commands.routing.eval_case", "Example tasks for a skill, with a quality bar."),
    "measurement": ("oc_cli.commands.routing.measurement", "Replay eval cases through the current and a candidate model."),
    "recommendation": ("oc_cli.commands.routing.recommendation", "Ranked \"save up to N%\" suggestions."),
    "proposal": ("oc_cli.commands.routing.proposal", "Approve or reject a proposed model switch."),
    "metrics": ("oc_cli.commands.routing.metrics", "Requests, tokens, spend, latency, errors and pass rate."),
    "judge": ("oc_cli.commands.routing.judge", "The judge checked against people: sample, label, calibration."),
}


class RoutingGroup(LazyGroup):
    lazy = SUBCOMMANDS


app = typer.Typer(cls=RoutingGroup, no_args_is_help=True, rich_markup_mode=None,
                  help="Model routing with evidence: eval cases, measurements, proposals, metrics.")


@app.callback()
def routing() -> None:
    """Model routing with evidence: eval cases, measurements, proposals, recommendations, metrics."""
