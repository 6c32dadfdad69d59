"""All persistent state: settings, object store, database, job queue, audit log, archive."""
