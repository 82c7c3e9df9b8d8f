-- The tables of wazo-auth's database that Sesame's `wazo` preset reads,
-- with the columns wazo-auth maps (wazo_auth/database/models.py); the
-- hashes are inserted by the suite (PBKDF2-HMAC-SHA512 as wazo-auth's
-- PasswordEncrypter computes them).
CREATE TABLE auth_tenant (
    uuid varchar(38) PRIMARY KEY,
    name text,
    slug varchar(10) NOT NULL,
    parent_uuid varchar(38) NOT NULL
);
CREATE TABLE auth_tenant_domain (
    uuid varchar(36) PRIMARY KEY,
    name varchar(253) NOT NULL UNIQUE,
    tenant_uuid varchar(38) NOT NULL REFERENCES auth_tenant(uuid) ON DELETE CASCADE
);
CREATE TABLE auth_user (
    uuid varchar(38) PRIMARY KEY,
    username varchar(256),
    firstname text,
    lastname text,
    password_hash text,
    password_salt bytea,
    purpose text NOT NULL CHECK (purpose IN ('user', 'internal', 'external_api')),
    authentication_method text NOT NULL,
    enabled boolean,
    tenant_uuid varchar(38) NOT NULL REFERENCES auth_tenant(uuid)
);
CREATE UNIQUE INDEX auth_user_username_key ON auth_user (lower(username));
CREATE TABLE auth_email (
    uuid varchar(38) PRIMARY KEY,
    address text NOT NULL,
    confirmed boolean NOT NULL DEFAULT false,
    main boolean NOT NULL DEFAULT false,
    user_uuid varchar(38) NOT NULL REFERENCES auth_user(uuid)
);
CREATE UNIQUE INDEX auth_email_address_key ON auth_email (lower(address));
