-- config.db v2: when each daily job last completed, so that a job whose time passed while
-- the daemon was down runs at start-up instead of a day late (scheduler.py).
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    completed_at REAL NOT NULL
);
