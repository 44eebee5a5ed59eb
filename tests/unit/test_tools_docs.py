"""What a newcomer copies: mcp.json, .env.example and the README's settings table and quick start."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import AliasChoices

from zoho_mcp.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_names(field: str) -> list[str]:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices), field
    return [str(name) for name in alias.choices]


def test_mcp_json_has_a_real_entry_and_a_sandbox_entry() -> None:
    servers = json.loads((ROOT / "mcp.json").read_text())["mcpServers"]
    assert set(servers) == {"zoho-crm", "zoho-crm-sandbox"}
    real, sandbox = servers["zoho-crm"], servers["zoho-crm-sandbox"]
    for entry in (real, sandbox):
        assert entry.get("type", "stdio") == "stdio"
        assert entry["command"] == "zoho-mcp" and entry["args"][0] == "serve"
    assert sandbox["args"] == ["serve", "--sandbox"] and not sandbox.get("env")
    assert "--sandbox" not in real["args"]
    accepted = {name for field in Settings.model_fields for name in env_names(field)}
    for name, value in real["env"].items():
        assert name in accepted, f"mcp.json sets {name}, which no setting reads"
        assert value.startswith("${" + name), f"{name} must come from the environment, not be written in the file"
    for needed in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_MCP_URL", "ENABLE_TIER1_MCP"):
        assert needed in real["env"]


def test_every_mcp_json_variable_has_a_default() -> None:
    """Claude Code refuses a config whose `${VAR}` is unset and has no default; an empty default lets the
    server itself say which setting is missing instead."""
    real = json.loads((ROOT / "mcp.json").read_text())["mcpServers"]["zoho-crm"]
    for name, value in real["env"].items():
        assert re.fullmatch(r"\$\{" + name + r":-[^}]*\}", value), f"{name}: {value!r} needs a default (${{{name}:-…}})"
    assert real["env"]["ENABLE_TIER1_MCP"] == "${ENABLE_TIER1_MCP:-true}"


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    for field in Settings.model_fields:
        primary = env_names(field)[0]
        assert re.search(rf"^#?{primary}=", text, re.MULTILINE), f".env.example lacks {primary} ({field})"


def test_readme_settings_table_covers_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings"):]
    table = table[: table.index("\n## ", 3)]
    missing = [env_names(f)[0] for f in Settings.model_fields if f"`{env_names(f)[0]}`" not in table]
    assert not missing, f"README settings table lacks {missing}"


def test_readme_quick_start_is_two_commands_demo_then_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start"):]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert ".venv" in commands[0] and commands[0].rstrip().endswith("zoho-mcp demo")
    assert "pytest" in commands[1]
    assert commands[1].strip() in (ROOT / ".ci" / "run").read_text()


def test_readme_shows_every_client_setup() -> None:
    readme = (ROOT / "README.md").read_text()
    for needle in ("Claude Desktop", "claude_desktop_config.json", "Claude Code", ".mcp.json", "VS Code",
                   ".vscode/mcp.json", "@modelcontextprotocol/inspector", "--cli"):
        assert needle in readme, needle
