-- Quick commands (issue 6): per-cluster shell commands that admins keep on /admin/commands and
-- that anyone in a terminal of that cluster sends with a click. Kept in step with
-- ../sqlite/0007_quick_commands.sql. Every change is audited (quick_command.*).
CREATE TABLE quick_commands (
    id          TEXT PRIMARY KEY,
    cluster     TEXT NOT NULL,
    name        TEXT NOT NULL,
    command     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (cluster, name)
);
