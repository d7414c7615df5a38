-- Discord account linking (DESIGN §7). Kept in step with ../sqlite/0005_discord.sql.

-- Which principal a Discord user acts as: written when the user, signed in through the web,
-- confirms a `/janus link` link; removable on the user's page. One principal per Discord user.
CREATE TABLE discord_accounts (
    discord_user_id  TEXT PRIMARY KEY,
    principal        TEXT NOT NULL,
    linked_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX discord_accounts_by_principal ON discord_accounts (principal);

-- Spent `/janus link` links (single use), found by the SHA-256 (hex) of their nonce; kept
-- until they would have expired anyway.
CREATE TABLE discord_link_nonces (
    nonce_hash       TEXT PRIMARY KEY,
    discord_user_id  TEXT NOT NULL,
    used_at          TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
