"""Partner webhooks live in `delivery.webhooks` (the one outbox, its worker and the HTTP sender); the API
reaches them through its `WebhookPort` (`api.server`), which the app's wiring point fills in."""
