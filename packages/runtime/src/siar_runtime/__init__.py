"""The chassis every Siar service shares: settings, logging, metrics, health, the database pool,
the broker edge, the transactional outbox, inbox deduplication and the due-rows runner."""
