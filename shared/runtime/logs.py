"""One logging set-up for every process: timestamped, levelled, to stderr."""

import logging


def configure_logging(level: str = "INFO", service: str = "planb") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_planb", False) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s [{service}] %(name)s: %(message)s", "%H:%M:%S"
        )
    )
    handler._planb = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs request URLs at INFO; Telegram and Slack URLs carry secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
