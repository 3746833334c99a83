"""Stripe billing: subscriptions decide who is Pro; role sync follows Stripe webhooks and a reconcile."""
