"""One logging set-up for every process: timestamped, levelled, to stderr."""

import logging
from typing import TextIO


class _PlanBHandler(logging.StreamHandler[TextIO]):
    """Plan B's own handler, so configuring twice (tests, the supervisor) adds it once."""


def configure_logging(level: str = "INFO", service: str = "planb") -> None:
    root = logging.getLogger()
    if any(isinstance(h, _PlanBHandler) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = _PlanBHandler()
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s [{service}] %(name)s: %(message)s", "%H:%M:%S"
        )
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs request URLs at INFO; Telegram and Slack URLs carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
