-- A Django/Wagtail-like database for find / forget: every kind of reference a person's rows have.
-- Jane (users_user 7) has rows along each; other users have rows of their own, some beside hers.
CREATE TABLE django_content_type (id integer PRIMARY KEY, app_label text NOT NULL, model text NOT NULL);
INSERT INTO django_content_type VALUES (1, 'users', 'user'), (2, 'wagtailcore', 'page');

CREATE TABLE users_user (
  id integer PRIMARY KEY,
  password varchar(128) NOT NULL,
  username varchar(150) NOT NULL UNIQUE,
  first_name varchar(150) NOT NULL,
  last_name varchar(150) NOT NULL,
  email varchar(254) NOT NULL UNIQUE,
  is_staff boolean NOT NULL);
INSERT INTO users_user
SELECT i, 'pbkdf2_sha256$390000$' || md5(i::text), 'user' || i || '.name', 'First' || i, 'Last' || i, 'user' || i || '@example.org', i % 5 = 0
  FROM generate_series(1, 60) i WHERE i <> 7;
INSERT INTO users_user VALUES (7, 'pbkdf2_sha256$390000$abc', 'jane.o''doe7', 'Jane', 'O''Doe', 'Jane.Doe+news@Example.org', true);

-- Django's admin log: by a user (CASCADE in Django), about an object (generic relation)
CREATE TABLE django_admin_log (
  id integer PRIMARY KEY,
  object_id text,
  object_repr varchar(200) NOT NULL,
  change_message text NOT NULL,
  content_type_id integer REFERENCES django_content_type (id) DEFERRABLE INITIALLY DEFERRED,
  user_id integer NOT NULL REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO django_admin_log
SELECT i, (1 + i % 60)::text, CASE WHEN 1 + i % 60 = 7 THEN 'jane.doe@example.org' ELSE 'user' || (1 + i % 60) || '@example.org' END,
       '[{"changed": {"fields": ["Email address"]}}]', 1, 1 + (i * 7) % 60
  FROM generate_series(1, 200) i WHERE 1 + (i * 7) % 60 <> 0;

-- sessions: base64 JSON with the user id, then :timestamp:signature (Django >= 3.1, uncompressed)
CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL, expire_date timestamptz NOT NULL);
INSERT INTO django_session
SELECT md5('s' || i), translate(encode(convert_to(json_build_object('_auth_user_id', (1 + i % 20)::text, 'ip', '10.0.0.' || i)::text, 'UTF8'), 'base64'), E'\n', '') || ':1abc:sig' || i,
       '2024-06-01 00:00:00+00'::timestamptz + make_interval(hours => i)
  FROM generate_series(1, 80) i;

-- pages: owner (SET NULL in Wagtail), and a tree of revisions
CREATE TABLE wagtailcore_page (id integer PRIMARY KEY, title text NOT NULL, owner_id integer REFERENCES users_user (id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO wagtailcore_page SELECT i, 'Page ' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE 1 + i % 10 END FROM generate_series(1, 40) i;
CREATE TABLE wagtailcore_pagerevision (id integer PRIMARY KEY, content jsonb NOT NULL, page_id integer NOT NULL REFERENCES wagtailcore_page (id), user_id integer REFERENCES users_user (id));
INSERT INTO wagtailcore_pagerevision
SELECT i, jsonb_build_object('title', 'Page ' || (1 + i % 40), 'note', CASE WHEN i % 9 = 0 THEN 'Reviewed by jane.o''doe7' ELSE 'ok' END), 1 + i % 40, CASE WHEN i % 5 = 0 THEN NULL ELSE 1 + i % 12 END
  FROM generate_series(1, 90) i;

-- a form submission that holds her address in its JSON, others with other people's
CREATE TABLE wagtailforms_formsubmission (id integer PRIMARY KEY, form_data jsonb NOT NULL, page_id integer NOT NULL REFERENCES wagtailcore_page (id));
INSERT INTO wagtailforms_formsubmission
SELECT i, jsonb_build_object('email', CASE WHEN i = 13 THEN 'JANE.DOE@EXAMPLE.ORG' ELSE 'visitor' || i || '@example.net' END, 'message', 'Hello from ' || CASE WHEN i = 21 THEN 'Jane (jane.doe+news@example.org)' ELSE 'someone' END), 1 + i % 40
  FROM generate_series(1, 30) i;

-- search queries: unique; one is her user name
CREATE TABLE wagtailsearch_query (id integer PRIMARY KEY, query_string varchar(255) NOT NULL UNIQUE);
INSERT INTO wagtailsearch_query SELECT i, CASE WHEN i = 5 THEN 'jane.o''doe7' ELSE 'query ' || i END FROM generate_series(1, 25) i;

-- declared cascades, two levels deep, the deeper table's data before the others' (pg_dump writes data by name)
CREATE TABLE b_profile (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE, bio text);
INSERT INTO b_profile SELECT i, i, 'Bio of ' || i FROM generate_series(1, 60) i WHERE i <> 0 AND i IN (SELECT id FROM users_user);
CREATE TABLE a_note (id integer PRIMARY KEY, profile_id integer NOT NULL REFERENCES b_profile (id) ON DELETE CASCADE, body text NOT NULL);
INSERT INTO a_note SELECT i, 1 + i % 60, 'note ' || i FROM generate_series(1, 120) i WHERE 1 + i % 60 IN (SELECT id FROM b_profile);

-- comments and their replies (a self-reference), removed with their author
CREATE TABLE c_comment (id integer PRIMARY KEY, parent_id integer REFERENCES c_comment (id) ON DELETE CASCADE, user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE, body text NOT NULL);
INSERT INTO c_comment SELECT i, NULL, 1 + i % 15, 'comment ' || i FROM generate_series(1, 30) i;
INSERT INTO c_comment SELECT 100 + i, i, 1 + (i * 3) % 15, 'reply ' || i FROM generate_series(1, 30) i;
INSERT INTO c_comment SELECT 200 + i, 100 + i, 2, 'reply to reply ' || i FROM generate_series(1, 30) i;

-- a declared SET NULL
CREATE TABLE d_upload (id integer PRIMARY KEY, uploaded_by_id integer REFERENCES users_user (id) ON DELETE SET NULL, file text NOT NULL);
INSERT INTO d_upload SELECT i, 1 + i % 9, 'file' || i || '.pdf' FROM generate_series(1, 27) i;

COMMENT ON TABLE d_upload IS 'uploads; questions to jane.doe@example.org';

-- a partitioned table: its foreign key is declared on the parent, its rows are the partitions'
CREATE TABLE e_activity (id integer NOT NULL, user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE e_activity_2023 PARTITION OF e_activity FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE e_activity_2024 PARTITION OF e_activity FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO e_activity SELECT i, 1 + i % 12, date '2023-06-01' + i * 5, 'did ' || i FROM generate_series(1, 80) i;

-- a key of two columns: memberships go with their user, grants with their membership
CREATE TABLE g_membership (user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE, org text NOT NULL, PRIMARY KEY (user_id, org));
INSERT INTO g_membership SELECT u, o FROM generate_series(1, 12) u, unnest(ARRAY['council', 'library']) o WHERE u <> 0;
CREATE TABLE h_grant (id integer PRIMARY KEY, user_id integer NOT NULL, org text NOT NULL, what text NOT NULL, FOREIGN KEY (user_id, org) REFERENCES g_membership ON DELETE CASCADE);
INSERT INTO h_grant SELECT i, 1 + i % 12, CASE WHEN i % 2 = 0 THEN 'council' ELSE 'library' END, 'grant ' || i FROM generate_series(1, 48) i;

-- keys PostgreSQL compares by type, not by text (issue 23): her account's login is citext, and her
-- logins refer to it in other cases; her invoice number is numeric, its lines refer to it at another
-- scale. Her DELETE cascades to every one of them.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE k_account (login citext PRIMARY KEY, user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE);
INSERT INTO k_account SELECT 'Login' || i, i FROM generate_series(1, 20) i;
CREATE TABLE k_login (id integer PRIMARY KEY, account citext NOT NULL REFERENCES k_account (login) ON DELETE CASCADE, at date NOT NULL);
INSERT INTO k_login SELECT i, CASE i % 3 WHEN 0 THEN 'login' WHEN 1 THEN 'LOGIN' ELSE 'Login' END || (1 + i % 20), date '2024-01-01' + i FROM generate_series(1, 60) i;
CREATE TABLE m_invoice (no numeric(8,2) PRIMARY KEY, user_id integer NOT NULL REFERENCES users_user (id) ON DELETE CASCADE);
INSERT INTO m_invoice SELECT i + 0.5, i FROM generate_series(1, 20) i;
CREATE TABLE m_line (id integer PRIMARY KEY, invoice numeric(9,3) NOT NULL REFERENCES m_invoice (no) ON DELETE CASCADE, amount integer NOT NULL);
INSERT INTO m_line SELECT i, 1 + i % 20 + 0.5, i FROM generate_series(1, 60) i;

-- a domain over citext: a newsletter list that holds her address too, and refers to no one
CREATE DOMAIN email_address AS citext CHECK (VALUE ~ '@');
CREATE TABLE n_newsletter (id integer PRIMARY KEY, address email_address NOT NULL);
INSERT INTO n_newsletter SELECT i, CASE WHEN i = 4 THEN 'Jane.Doe@Example.org' ELSE 'reader' || i || '@example.net' END FROM generate_series(1, 10) i;

-- bytea: attachments whose bytes hold text; one holds her address, and refers to no one
CREATE TABLE o_attachment (id integer PRIMARY KEY, data bytea NOT NULL);
INSERT INTO o_attachment SELECT i, convert_to(CASE WHEN i = 2 THEN 'From: jane.doe@example.org' || chr(10) || 'Re: minutes' ELSE 'From: reader' || i || '@example.net' END, 'UTF8') FROM generate_series(1, 5) i;
