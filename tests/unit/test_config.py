"""Settings: every documented name is read, the product spec's aliases work, bad values fail clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoho_mcp.config import DATA_CENTERS, Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("ZOHO_", "ENABLE_", "CIRCUIT_", "RETRY_", "MAX_RETRY", "HEALTH_", "HEDGE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_design() -> None:
    s = Settings()
    assert (s.breaker_failure_threshold, s.breaker_recovery_timeout) == (5, 60.0)
    assert (s.breaker_half_open_calls, s.breaker_success_threshold) == (3, 2)
    assert (s.retry_max_attempts, s.retry_base_delay, s.retry_max_delay) == (3, 1.0, 60.0)
    assert (s.retry_exponential_base, s.retry_jitter) == (2.0, True)
    assert (s.health_check_interval, s.health_check_timeout) == (30.0, 10.0)
    assert (s.mcp_timeout, s.sdk_timeout, s.rest_timeout) == (30.0, 60.0, 45.0)
    assert s.enabled_tiers == ["mcp", "sdk", "rest"]


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({"ZOHO_CLIENT_ID": "a"}, "client_id", "a"),
        ({"ZOHO_REST_CLIENT_ID": "b"}, "client_id", "b"),
        ({"ZOHO_REST_API_DOMAIN": "https://x.example"}, "api_domain", "https://x.example"),
        ({"ENABLE_TIER1_MCP": "false"}, "enabled_tiers", ["sdk", "rest"]),
        ({"ENABLE_FAILOVER": "false"}, "enable_failover", False),
        ({"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "7"}, "breaker_failure_threshold", 7),
        ({"RETRY_JITTER_ENABLED": "false"}, "retry_jitter", False),
        ({"ZOHO_DATA_CENTER": "ca"}, "accounts_url", "https://accounts.zohocloud.ca"),
        ({"ZOHO_DATA_CENTER": "eu"}, "api_domain", "https://www.zohoapis.eu"),
        ({"ZOHO_EDITION": "free"}, "org_concurrency", 5),
        ({"ZOHO_MCP_READ_ONLY": "true"}, "read_only", True),
    ],
)
def test_environment_names(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], attr: str, expected: object) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert getattr(Settings(), attr) == expected


def test_every_data_center_has_both_urls() -> None:
    assert set(DATA_CENTERS) == {"us", "eu", "in", "au", "jp", "cn", "ca", "sa", "uk"}
    for accounts, api in DATA_CENTERS.values():
        assert accounts.startswith("https://accounts.") and api.startswith("https://www.zohoapis.")


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "many")
    with pytest.raises(SettingsError, match="CIRCUIT_BREAKER_FAILURE_THRESHOLD"):
        load_settings()


def test_secret_values_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOHO_MCP_URL", "https://x.zohomcp.com/mcp/secret-key-123/message")
    s = load_settings()
    assert "secret-key" not in repr(s)
    assert "secret-key" not in str(s.mcp_url)
    monkeypatch.setenv("ZOHO_MCP_URL", "{not-a-url-but-secret-key}")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "ZOHO_MCP_URL" in str(info.value) and "secret-key" not in str(info.value)


def test_missing_connection_settings_are_named() -> None:
    assert Settings().missing_connection_settings() == [
        "ZOHO_CLIENT_ID",
        "ZOHO_CLIENT_SECRET",
        "ZOHO_REFRESH_TOKEN",
        "ZOHO_MCP_URL (or ENABLE_TIER1_MCP=false)",
    ]


def test_cli_invalid_setting_is_one_line_exit_2(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "RETRY_MAX_DELAY": "0.5", "RETRY_BASE_DELAY": "1", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "zoho_mcp", "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RETRY_MAX_DELAY" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ZOHO_ACCOUNTS_URL": "notaurl"}, "ZOHO_ACCOUNTS_URL"),
        ({"ZOHO_REST_API_DOMAIN": "ftp://x"}, "ZOHO_API_DOMAIN"),
        ({"ZOHO_MCP_URL": "zohomcp.com/mcp/k/message"}, "ZOHO_MCP_URL"),
        (
            {"ENABLE_TIER1_MCP": "false", "ENABLE_TIER2_SDK": "false", "ENABLE_TIER3_REST": "false"},
            "ENABLE_TIER1_MCP, ENABLE_TIER2_SDK, ENABLE_TIER3_REST",
        ),
    ],
)
def test_more_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=needle):
        load_settings()


def test_blank_values_mean_unset_and_case_is_forgiven(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", "")
    monkeypatch.setenv("ZOHO_DATA_CENTER", "EU")
    s = load_settings()
    assert s.client_secret is None and "ZOHO_CLIENT_SECRET" in s.missing_connection_settings()
    assert s.api_domain == "https://www.zohoapis.eu"


def test_unexpanded_placeholders_are_named_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_TIER1_MCP", "${ENABLE_TIER1_MCP:-true}")
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", "${ZOHO_CLIENT_SECRET}")
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert "ENABLE_TIER1_MCP" in text and "ZOHO_CLIENT_SECRET" in text and "placeholders" in text


def test_one_placeholder_holds_several_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOHO_CLIENT_ID", "${ZOHO_CLIENT_ID}")
    with pytest.raises(SettingsError) as one:
        load_settings()
    assert str(one.value).startswith("ZOHO_CLIENT_ID still holds a '${...}' placeholder:")
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", "${ZOHO_CLIENT_SECRET}")
    with pytest.raises(SettingsError) as several:
        load_settings()
    assert str(several.value).startswith("ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET still hold '${...}' placeholders:")


def test_state_dir_is_checked(tmp_path) -> None:
    fresh = tmp_path / "a" / "b"
    assert Settings(state_dir=fresh).check_state_dir() == fresh and fresh.is_dir()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for path, problem in ((a_file, "is not a directory"), (a_file / "sub", "cannot be created")):
        with pytest.raises(SettingsError) as info:
            Settings(state_dir=path).check_state_dir()
        assert str(info.value).startswith(f"ZOHO_STATE_DIR {path} {problem}")
