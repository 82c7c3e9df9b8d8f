-- The tables of XiVO's `asterisk` database that Sesame's `xivo` preset
-- reads, with the columns xivo-dao maps (xivo_dao/alchemy/userfeatures.py,
-- accesswebservice.py, user.py); the other columns are left out.
CREATE TABLE userfeatures (
    id serial PRIMARY KEY,
    uuid varchar(38) NOT NULL,
    firstname varchar(128) NOT NULL DEFAULT '',
    lastname varchar(128) NOT NULL DEFAULT '',
    email varchar(254),
    loginclient varchar(254) NOT NULL DEFAULT '',
    passwdclient varchar(64) NOT NULL DEFAULT '',
    enableclient integer NOT NULL DEFAULT 0
);
CREATE TABLE accesswebservice (
    id serial PRIMARY KEY,
    uuid varchar(38) NOT NULL,
    name varchar(64) NOT NULL DEFAULT '',
    login varchar(64),
    passwd varchar(64),
    host varchar(255),
    acl varchar[] NOT NULL DEFAULT '{}',
    disable integer NOT NULL DEFAULT 0,
    description text NOT NULL DEFAULT ''
);
CREATE TYPE user_meta AS ENUM ('user', 'admin', 'root');
CREATE TABLE "user" (
    id serial PRIMARY KEY,
    uuid varchar(38) NOT NULL,
    entity_id integer,
    login varchar(64) NOT NULL DEFAULT '',
    passwd varchar(64) NOT NULL DEFAULT '',
    meta user_meta NOT NULL DEFAULT 'user',
    valid integer NOT NULL DEFAULT 1,
    obj text NOT NULL DEFAULT ''
);
INSERT INTO userfeatures (uuid, firstname, email, loginclient, passwdclient, enableclient) VALUES
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0001', 'Alice', 'alice@example.org', 'alice', 'cti-s3cre7', 1),
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0002', 'Bob', 'bob@example.org', 'bob', 'b0b-pass', 0),
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0003', 'Nobody', NULL, '', '', 1);
INSERT INTO accesswebservice (uuid, name, login, passwd, acl, disable) VALUES
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0010', 'xuc', 'xuc', 'xuc-key', '{confd.users.read,dird.#}', 0),
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0011', 'old', 'old', 'old-key', '{}', 1);
INSERT INTO "user" (uuid, login, passwd, meta, valid) VALUES
    ('2b4c7f7e-4b43-4a44-9a7b-1c0c5f6d0020', 'root', 'r00t-pass', 'root', 1);
