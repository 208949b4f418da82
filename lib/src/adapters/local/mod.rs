//! Adapters for one machine: an embedded SQLite store, a master key file, a durable delay queue and a local event bus.
