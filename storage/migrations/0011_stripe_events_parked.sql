-- 0011: dead-lettered Stripe events. An event whose handling failed `stripe.event_max_attempts` times is
-- parked (`parked_at`, with its last error kept in `last_error`): no longer retried, shown to moderators.
-- (0009 and 0010 are left to work in progress elsewhere; versions apply in order, gaps allowed.)
ALTER TABLE stripe_events ADD COLUMN parked_at TEXT;
CREATE INDEX stripe_events_parked ON stripe_events (parked_at) WHERE parked_at IS NOT NULL;
