-- Who ended a request (a person's email, `system`, or `agent:<cluster>`), kept with the request so
-- cards and pages need not search the audit log for it.
ALTER TABLE requests ADD COLUMN ended_by TEXT;
