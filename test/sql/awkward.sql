-- A database built to trip a dump rewriter: awkward names, awkward text, every kind of column the
-- rules touch. Loaded by the tests, then dumped with the real pg_dump.
CREATE SCHEMA "Sales";
CREATE SCHEMA other;

CREATE TABLE users_user (
  id integer PRIMARY KEY,
  email varchar(254) NOT NULL UNIQUE,
  username varchar(150) NOT NULL UNIQUE,
  first_name text NOT NULL,
  last_name text NOT NULL,
  password text NOT NULL,
  phone text,
  notes text,
  profile jsonb,
  tags text[],
  photo bytea,
  email_domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED
);

INSERT INTO users_user (id, email, username, first_name, last_name, password, phone, notes, profile, tags, photo) VALUES
 (1, 'alice.smith@gmail.com', 'alice', 'Alice', 'Smith', 'pbkdf2$x', '07700 123456', E'Tab\there and a newline\nsecond line', '{"email": "alice.smith@gmail.com", "name": "Alice Smith", "age": 31, "big": 12345678901234567890, "address": {"postcode": "SW1A 1AA", "city": "London"}, "kids": [{"name": "Bo"}]}', ARRAY['a', 'b "c"', 'd,e'], '\x00ff10'),
 (2, 'Bob.Jones@Hotmail.co.uk', 'bob', 'Bob', 'O''Brien', 'pbkdf2$y', NULL, E'Backslash \\ and a literal \\N and CR\r here', '{"email": null, "name": "Bob"}', '{}', NULL),
 (3, 'zoe@example.org', 'zoe', 'Zoë', 'Nguyễn', '!', '+44 20 7946 0018', E'line one\n\\.\nline three', NULL, NULL, '\x'),
 (4, 'carol@btinternet.com', 'carol', '', '', 'pbkdf2$z', '', E'fake header\nCOPY public.users_user (id, email) FROM stdin;\n1\tvictim@gmail.com\n\\.\nend', '[]', ARRAY[NULL, 'x'], '\x5c5c'),
 (5, 'dave@aol.com', 'dave', 'Dave', 'Ahmed', 'pbkdf2$w', '(0113) 496 0000', E'emoji 🎉 and 漢字 and \u00e9; semicolon; $$ dollar $$', '{"email": "dave@aol.com", "name": "Dave \"the\" Ahmed"}', NULL, NULL),
 (6, 'eve@protonmail.com', 'eve', 'Eve', 'Khan', 'pbkdf2$v', NULL, NULL, NULL, NULL, NULL);

-- quoted mixed-case table, names with spaces and commas
CREATE TABLE "Sales"."Customer" (
  "Id" integer PRIMARY KEY,
  "Full Name" text NOT NULL,
  "e-mail" text,
  "note, internal" text
);
INSERT INTO "Sales"."Customer" VALUES
 (1, 'Grace Hopper', 'grace@navy.mil', 'likes "quotes"'),
 (2, 'Ada Lovelace', NULL, E'multi\n\nparagraph'),
 (3, 'Tab	Name', 'tab@x.io', '');

CREATE TABLE public."order items" (
  id integer PRIMARY KEY,
  "note, internal" text,
  "Qty""x" integer
);
INSERT INTO public."order items" VALUES (1, 'first, with comma', 2), (2, NULL, NULL), (3, E'\\x41 not hex', 5);

-- the same table name in two schemas
CREATE TABLE public.contact (id integer PRIMARY KEY, email text);
CREATE TABLE other.contact (id integer PRIMARY KEY, email text);
INSERT INTO public.contact VALUES (1, 'alice.smith@gmail.com'), (2, 'frank@gmail.com');
INSERT INTO other.contact VALUES (1, 'alice.smith@gmail.com'), (2, NULL);

-- one column, with an empty string row and a NULL row
CREATE TABLE single (v text);
INSERT INTO single VALUES (''), (NULL), ('x'), (E'\\'), ('\N');

-- a partitioned table: rules on the parent apply to the partitions
CREATE TABLE events (id integer, created date NOT NULL, attendee_email text, body text) PARTITION BY RANGE (created);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events VALUES (1, '2023-05-01', 'alice.smith@gmail.com', 'a'), (2, '2024-02-02', 'gina@gmail.com', 'b'), (3, '2024-03-03', NULL, NULL);

-- feedback with free text, rows to drop
CREATE TABLE feedback (
  id integer PRIMARY KEY,
  action text NOT NULL,
  issue text,
  ip inet
);
INSERT INTO feedback VALUES
 (1, 'spam', 'buy now at spam@spam.biz', '10.0.0.1'),
 (2, 'report', 'Please email me at harry.potter@hogwarts.ac.uk or call 07700 900123, I live at SW1A 2AA', '192.168.1.20'),
 (3, 'report', NULL, NULL),
 (4, 'other', 'see https://private.example-council.gov.uk/case/123 from 2a00:23c4:1234::5678', '2a00:23c4:1234::5678'),
 (5, 'spam', NULL, NULL);

-- a kept table of plain content
CREATE TABLE page (id integer PRIMARY KEY, title text, body text, published boolean, price numeric(8,2), at timestamptz);
INSERT INTO page SELECT i, 'Page ' || i, repeat(E'text\twith\\escapes\n', i % 5), i % 2 = 0, i * 1.5, timestamptz '2024-01-01 00:00+00' + i * interval '1 hour' FROM generate_series(1, 200) i;

-- a table dropped whole
CREATE TABLE session (key text PRIMARY KEY, data text);
INSERT INTO session VALUES ('k1', 'secret session alice.smith@gmail.com');
