"""The embedded index file's SQLite tables, made from the index's fields (shared.retrieval.schema).

SCHEMA_VERSION changes with the SQL: an index file made by another version is rebuilt
(shared.retrieval.embedded), or only its indexes when its tables are the same (SAME_TABLES).
"""

from __future__ import annotations

import hashlib

from shared.retrieval.schema import FIELDS


def schema_sql() -> str:
    columns = ",\n    ".join(
        f'"{f.name}" {"INTEGER" if f.type == "Edm.Int32" else "TEXT"}{" NOT NULL UNIQUE" if f.key else ""}'
        for f in FIELDS
        if not f.is_collection
    )
    # Filters read these indexes instead of scanning the chunks' text. Every search carries the
    # security trimming on the filename, so each index holds it too: a filter on one field and
    # the trimming are answered from the index alone, without reading the chunks' rows.
    indexes = "\n".join(
        f'CREATE INDEX IF NOT EXISTS chunks_by_{f.name} ON chunks ("{f.name}"'
        + (', "filename");' if f.name != "filename" else ");")
        for f in FIELDS
        if f.filterable and not f.is_collection and not f.key
    )
    return f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (filename TEXT PRIMARY KEY, content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    {columns}
);
{indexes}
-- Vectors live apart from the chunks, so that a filter scanning chunks does not read them.
CREATE TABLE IF NOT EXISTS chunk_vectors (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
-- One row per element of a collection field, in the collection's order (the table's rowid).
CREATE TABLE IF NOT EXISTS chunk_values (chunk INTEGER NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL);
-- Reading a chunk's values (results, facets, deletion) knows the chunk; a filter knows the values.
CREATE INDEX IF NOT EXISTS chunk_values_by_chunk ON chunk_values (chunk, field, value);
CREATE INDEX IF NOT EXISTS chunk_values_by_value ON chunk_values (field, value, chunk);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    title, section, text, content='chunks', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, title, section, text) VALUES (new.rowid, new.title, new.section, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, title, section, text)
        VALUES ('delete', old.rowid, old.title, old.section, old.text);
    DELETE FROM chunk_values WHERE chunk = old.rowid;
    DELETE FROM chunk_vectors WHERE rowid = old.rowid;
END;
"""


# The vectors of each chunk's answer candidates, by a hash of the text embedded (shared.retrieval.
# passage_vectors). Not part of SCHEMA_VERSION: an index file made before it gets it empty, and
# the next ingestion fills it, instead of the whole index being rebuilt.
PASSAGE_VECTORS = "passage_vectors"
PASSAGE_VECTORS_SQL = f"""
CREATE TABLE IF NOT EXISTS {PASSAGE_VECTORS} (
    chunk INTEGER NOT NULL, key BLOB NOT NULL, embedding BLOB NOT NULL, UNIQUE (chunk, key)
);
CREATE INDEX IF NOT EXISTS {PASSAGE_VECTORS}_by_key ON {PASSAGE_VECTORS} (key);
CREATE TRIGGER IF NOT EXISTS chunks_ad_{PASSAGE_VECTORS} AFTER DELETE ON chunks BEGIN
    DELETE FROM {PASSAGE_VECTORS} WHERE chunk = old.rowid;
END;
"""

SCHEMA_VERSION = hashlib.sha1(schema_sql().encode()).hexdigest()[:12]
# Versions whose tables are this version's and only the indexes differ: a file made by one has
# its indexes rebuilt in place (shared.retrieval.embedded) instead of being emptied.
SAME_TABLES = frozenset({"105c285bfd82"})  # before chunks_by_* held the filename and chunk_values_by_value
