"""The infrastructure tier: REST API keys and plans, the REST API, signed webhooks, usage monitoring."""
