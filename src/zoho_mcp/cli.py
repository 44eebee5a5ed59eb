"""`zoho-mcp serve | sandbox | demo` — the console script and `python -m zoho_mcp`.

Parsing lives here; each command's work lives in the module that owns it, imported only when used,
so `zoho-mcp --help` stays fast and a broken optional piece cannot stop the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoho_mcp import __version__


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number from 0 to 65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoho-mcp", description="A resilient MCP server for Zoho CRM.")
    parser.add_argument("--version", action="version", version=f"zoho-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,sandbox,demo}")

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--sandbox", action="store_true", help="start the local Zoho in-process and use it")
    serve.add_argument("--read-only", action="store_true", help="hide every tool that writes")

    sandbox = sub.add_parser("sandbox", help="run the local Zoho CRM sandbox alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=_port, default=8765)
    sandbox.add_argument("--seed", type=int, default=42)
    sandbox.add_argument("--accounts", type=_positive_int, default=500)
    sandbox.add_argument(
        "--edition", choices=["free", "standard", "professional", "enterprise", "ultimate"], default="enterprise"
    )
    sandbox.add_argument("--token-ttl", type=_non_negative, default=3600.0, metavar="SECONDS")
    sandbox.add_argument("--latency-ms", type=_non_negative, default=0.0, metavar="N")

    sub.add_parser("demo", help="a guided first run against the sandbox, as a real MCP client")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from zoho_mcp.config import SettingsError, exit_on_settings_error, load_settings

        try:
            load_settings()  # fail on a bad setting with one clear line before anything starts
        except SettingsError as exc:
            exit_on_settings_error(exc)
        from zoho_mcp.server import run_serve

        run_serve(args)
    elif args.command == "sandbox":
        from zoho_mcp.sandbox.app import run_sandbox_cli

        run_sandbox_cli(args)
    elif args.command == "demo":
        from zoho_mcp.demo import run_demo

        sys.exit(run_demo())


if __name__ == "__main__":
    main()
