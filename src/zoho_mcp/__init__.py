"""zoho-mcp: a resilient MCP server for Zoho CRM."""

__version__ = "0.1.0"
